"""Whole runs of several algorithms, one after the other, timed against random stepping of each one's VecEnv (see
:mod:`sb3_udrl.benchmark`)."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sb3_udrl.benchmark.sweep import MARKER, Confs, _entry, _zoo_entries, plan, train_command, train_in_folder


# ----------------------------------------------------------------------------------------------------------------------
# Speed
def random_stepping_seconds(env: str, entry: dict[str, Any], n_timesteps: int, seed: int = 0) -> float:
    """
    Seconds that ``n_timesteps`` random-action steps take in the VecEnv rl-zoo3 builds for ``entry`` (its ``n_envs``
    and ``env_wrapper``, ``make_vec_env`` without a render mode, as ``sb3_udrl.train`` makes them).

    :param env: gymnasium id
    :param entry: the algorithm's hyperparameters for ``env``
    :param n_timesteps: env steps to time (all envs together)
    :param seed: seed of the envs
    """
    from rl_zoo3.utils import get_wrapper_class
    from stable_baselines3.common.env_util import make_vec_env

    vec_env = make_vec_env(
        env,
        n_envs=entry.get("n_envs", 1),
        seed=seed,
        wrapper_class=get_wrapper_class(entry),
        env_kwargs={"render_mode": None},
    )
    vec_env.action_space.seed(seed)
    vec_env.reset()
    start = time.perf_counter()
    for _ in range(max(1, n_timesteps // vec_env.num_envs)):
        vec_env.step(np.array([vec_env.action_space.sample() for _ in range(vec_env.num_envs)]))
    seconds = time.perf_counter() - start
    vec_env.close()
    return seconds * n_timesteps / (max(1, n_timesteps // vec_env.num_envs) * vec_env.num_envs)


def speed_sweep(
    algos: Sequence[str],
    env: str,
    n_timesteps: int,
    log_folder: Path,
    seed: int = 0,
    random_timesteps: int | None = None,
    conf: Confs = None,
    gym_packages: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """
    Wall time of a whole run of each algorithm, one after the other on this machine, with its YAML entry (ours, or
    rl-zoo3's tuned one) at ``n_timesteps`` env steps, without evaluations; and its ratio to random-action stepping
    of the same VecEnv. Run it on an otherwise idle machine: the times are only comparable within one sweep.

    :param algos: rl-zoo3 algorithm names
    :param env: gymnasium id
    :param n_timesteps: env steps of every run
    :param log_folder: where the runs are trained (rl-zoo3's layout; ``{algo}/{env}_{seed}``)
    :param seed: seed of every run
    :param random_timesteps: env steps of random stepping, scaled to the run's (default: ``n_timesteps``)
    :param conf: hyperparameter files instead of the default ones (``sb3_udrl.benchmark.sweep.Confs``)
    :param gym_packages: modules that register ``env`` (rl-zoo3's ``--gym-packages``)
    :return: one dict per algorithm
    """
    for package in gym_packages:
        importlib.import_module(package)
    runs, skipped = plan(algos, [env], [seed], n_timesteps, conf=conf)
    if skipped:
        raise ValueError(f"No settings to time: {'; '.join(skipped)}")
    rows = []
    for run in runs:
        algo = run.algo
        entry = _entry(_zoo_entries(algo, conf)[1], env)
        random_steps = random_timesteps or n_timesteps
        random_seconds = random_stepping_seconds(env, entry, random_steps, seed)
        command = train_command(run, log_folder, eval_freq=-1, eval_episodes=1, conf=conf, gym_packages=gym_packages)
        start = time.perf_counter()
        outcome = train_in_folder(run, log_folder, command)
        process_seconds = time.perf_counter() - start
        if outcome != "done":
            raise RuntimeError(f"{algo} on {env}: {outcome}")
        marker = json.loads((run.folder(log_folder) / MARKER).read_text())
        steps, seconds = marker["n_timesteps_done"], marker["wall_seconds"]
        random_seconds_per_step = random_seconds / random_steps
        rows.append(
            dict(
                algo=algo,
                env=env,
                n_envs=entry.get("n_envs", 1),
                n_timesteps=steps,
                run_seconds=seconds,
                process_seconds=process_seconds,
                random_stepping_seconds=random_seconds_per_step * steps,
                time_ratio_to_random_stepping=seconds / (random_seconds_per_step * steps),
                command=" ".join(["python -m sb3_udrl.benchmark", *command[command.index("_train") :]]),
            )
        )
        print(f"{algo}: {seconds / 60:.1f} min, {rows[-1]['time_ratio_to_random_stepping']:.2f}x random stepping")
    return rows


def speed_table(rows: Sequence[dict[str, Any]]) -> str:
    """The speed sweep's rows as a Markdown table."""
    fastest = min(row["run_seconds"] for row in rows)
    lines = [
        "| algo | env | n_envs | steps | minutes per run | random stepping (minutes) | ratio to random stepping | "
        "time relative to the fastest |",
        "|" + " --- |" * 8,
    ]
    for row in rows:
        lines.append(
            f"| {row['algo']} | {row['env']} | {row['n_envs']} | {row['n_timesteps'] / 1e6:.2f}M | "
            f"{row['run_seconds'] / 60:.1f} | {row['random_stepping_seconds'] / 60:.1f} | "
            f"{row['time_ratio_to_random_stepping']:.2f} | {row['run_seconds'] / fastest:.2f} |"
        )
    return "\n".join(lines) + "\n"
