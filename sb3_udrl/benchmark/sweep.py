"""Planning and running the runs of a sweep, each through rl-zoo3's ``train`` in its own process (see
:mod:`sb3_udrl.benchmark`)."""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from sb3_udrl.benchmark.versions import code_version, hyperparams_overrides

#: Envs that rl-zoo3's files lack, and the env whose tuned entry stands in for them (same dynamics and spaces)
ENV_ALIASES: dict[str, str] = {"LunarLanderSparse-v3": "LunarLander-v3"}

MARKER = "benchmark.json"
OTHER_MODE_FOLDER = "sampled"


class Run(NamedTuple):
    """One training run of a sweep."""

    algo: str
    env: str
    seed: int
    n_timesteps: int

    def folder(self, log_folder: Path) -> Path:
        """The run's rl-zoo3 log folder."""
        return log_folder / self.algo / f"{self.env}_{self.seed}"


# ----------------------------------------------------------------------------------------------------------------------
# Planning
Confs = Path | dict[str, Path] | None
"""Hyperparameter files replacing the default ones: one file for sb3_udrl's algorithms, or ``{algo: file}`` (``"*"``:
sb3_udrl's algorithms), e.g. the ViZDoom baselines' files."""


def _conf_for(algo: str, conf: Confs) -> Path | None:
    from sb3_udrl.zoo import ZOO_ALGOS

    if isinstance(conf, dict):
        return conf.get(algo, conf.get("*") if algo in ZOO_ALGOS else None)
    return conf if algo in ZOO_ALGOS else None


def _zoo_entries(algo: str, conf: Confs = None) -> tuple[Path, dict[str, Any]]:
    """The hyperparameter file rl-zoo3 would use for ``algo`` (or the one ``conf`` gives it) and its entries."""
    import yaml

    from sb3_udrl.zoo import ZOO_ALGOS, default_config

    path = _conf_for(algo, conf)
    if path is None and algo in ZOO_ALGOS:
        path = Path(default_config(algo))
    elif path is None:
        # Located without importing rl_zoo3, which patches gymnasium's TimeLimit when imported
        spec = importlib.util.find_spec("rl_zoo3")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("The benchmark runner needs rl-zoo3: pip install sb3_udrl[zoo]")
        path = Path(spec.submodule_search_locations[0]) / "hyperparams" / f"{algo}.yml"
        if not path.is_file():
            raise ValueError(f"Unknown algorithm {algo!r}: neither sb3_udrl nor rl-zoo3 has a file {path.name}")
    with open(path) as file:
        return Path(path), yaml.safe_load(file)


def parse_shard(shard: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``, ``1 <= K <= N``."""
    try:
        k, n = (int(part) for part in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard must be K/N with integers, e.g. 1/2; got {shard!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard K/N needs 1 <= K <= N; got {shard!r}")
    return k, n


def parse_conf_files(items: Sequence[str]) -> dict[str, Path]:
    """``--conf-file`` items (``FILE`` or ``ALGO=FILE``) -> ``{algo: file}``, ``"*"`` for sb3_udrl's algorithms."""
    confs: dict[str, Path] = {}
    for item in items:
        algo, _, path = item.rpartition("=") if "=" in item else ("*", "", item)
        if not Path(path).is_file():
            raise ValueError(f"--conf-file {item}: no file {path}")
        if algo in confs:
            raise ValueError(f"--conf-file names two files for {'sb3_udrl' if algo == '*' else algo}")
        confs[algo] = Path(path)
    return confs


def plan(
    algos: Sequence[str],
    envs: Sequence[str],
    seeds: Sequence[int],
    n_timesteps: int,
    caps: dict[str, int] | None = None,
    shard: tuple[int, int] = (1, 1),
    conf: Confs = None,
) -> tuple[list[Run], list[str]]:
    """
    The runs of a sweep, seed-major, and the (algorithm, env) pairs skipped for want of hyperparameters.

    :param algos: algorithm names of rl-zoo3 (``udrl``, ``rcpr``, ``rcpa``, ``ppo``, ...)
    :param envs: gymnasium ids
    :param seeds: seeds
    :param n_timesteps: env steps of every run
    :param caps: a smaller budget for some algorithms (too costly at the full one); the report shows each run's steps
    :param shard: ``(K, N)``: keep the runs whose position in the sweep is ``K - 1`` modulo ``N``
    :param conf: hyperparameter files instead of the default ones (:data:`Confs`)
    :return: the runs and the reasons for skipped pairs
    """
    if n_timesteps <= 0:
        raise ValueError(f"The budget must be a positive number of env steps; got {n_timesteps}")
    caps = caps or {}
    skipped, pairs = [], []
    for algo in algos:
        _, entries = _zoo_entries(algo, conf)
        for env in envs:
            if env in entries or ENV_ALIASES.get(env) in entries:
                pairs.append((algo, env))
            else:
                skipped.append(f"{algo} on {env}: rl-zoo3 has no {algo} settings for it")
    runs = [
        Run(algo, env, seed, min(n_timesteps, caps.get(algo, n_timesteps)))
        for seed in seeds
        for env in envs
        for algo, pair_env in pairs
        if pair_env == env
    ]
    k, n = shard
    return runs[k - 1 :: n], skipped


def _entry(entries: dict[str, Any], env: str) -> dict[str, Any]:
    """The hyperparameters of ``env`` in a file's ``entries``: its own, or those of its alias (``ENV_ALIASES``)."""
    return entries[env] if env in entries else entries[ENV_ALIASES[env]]


def conf_file(algo: str, env: str, log_folder: Path, conf: Confs = None) -> Path:
    """The hyperparameter file of a run: the algorithm's own (or ``conf``), or a copy with the aliased env's entry."""
    import yaml

    path, entries = _zoo_entries(algo, conf)
    if env in entries:
        return path
    entries = {**entries, env: _entry(entries, env)}
    target = log_folder / "hyperparams" / f"{algo}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {path} with {env} taking the entry of {ENV_ALIASES[env]} (sb3_udrl.benchmark.ENV_ALIASES)\n"
    target.write_text(header + yaml.safe_dump(entries, sort_keys=False))
    return target


def is_done(run: Run, log_folder: Path) -> bool:
    """Whether the run finished with at least its budget (``benchmark.json`` says so)."""
    marker = run.folder(log_folder) / MARKER
    if not marker.is_file():
        return False
    try:
        return int(json.loads(marker.read_text())["n_timesteps_done"]) >= run.n_timesteps
    except (ValueError, KeyError, TypeError):
        return False


def parse_hyperparams(items: Sequence[str]) -> dict[str, Any]:
    """``KEY:VALUE`` overrides read as rl-zoo3's ``--hyperparams`` reads them (``StoreDict``: each value evaluated)."""
    from rl_zoo3.utils import StoreDict

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--params", nargs="*", action=StoreDict, default={})
    for item in items:
        if ":" not in item:
            raise ValueError(f"--params takes KEY:VALUE items (e.g. gamma:0.99); got {item!r}")
    try:
        return parser.parse_args(["--params", *items]).params
    except Exception as error:  # eval() of the value: NameError, SyntaxError, ...
        raise ValueError(f"--params {' '.join(items)}: a value is not a Python expression ({error})") from error


def changed_settings(run: Run, log_folder: Path, hyperparams: dict[str, Any] | None = None, conf: Confs = None) -> list[str]:
    """
    How the hyperparameters a finished run was trained with (its rl-zoo3 ``config.yml``) differ from its entry in the
    hyperparameter file now with ``hyperparams`` on top (the sweep's ``--params``), as ``"key: old -> new"``
    (``n_timesteps`` aside: the sweep sets the budget). A finished run is never redone, so a run trained before its
    entry changed would otherwise stand for the new setting.
    """
    import yaml

    saved_path = run.folder(log_folder) / run.env / "config.yml"
    if not saved_path.is_file():
        return []
    with open(saved_path) as file:
        # rl-zoo3 writes an OrderedDict as a python object (and reads it back the same way)
        saved = dict(yaml.load(file, Loader=yaml.UnsafeLoader))
    entry = {**_entry(_zoo_entries(run.algo, conf)[1], run.env), **(hyperparams or {})}
    changes = []
    for key in sorted((set(saved) | set(entry)) - {"n_timesteps"}):
        old, new = saved.get(key, "(unset)"), entry.get(key, "(unset)")
        if old != new:
            changes.append(f"{key}: {old} -> {new}")
    return changes


# ----------------------------------------------------------------------------------------------------------------------
# One run (in its own process)
def _train_one(argv: list[str]) -> None:
    """
    rl-zoo3's ``train`` with ``argv`` (its own options) and a fixed log folder for the run: ``--run-name NAME`` (ours,
    removed from ``argv``) replaces rl-zoo3's ``{env}_{latest + 1}``. Adds the evaluation in the other action mode
    and writes ``benchmark.json`` once the trained model is saved.
    """
    import rl_zoo3.train
    from stable_baselines3.common.callbacks import EvalCallback

    from sb3_udrl.zoo import cli
    from sb3_udrl.zoo.experiment import ResumableExperimentManager

    name_index = argv.index("--run-name")
    run_name = argv[name_index + 1]
    argv = argv[:name_index] + argv[name_index + 2 :]

    class TimedEvalCallback(EvalCallback):
        """``EvalCallback`` whose ``evaluations.npz`` also holds the wall time of each evaluation since learning began."""

        def _on_training_start(self) -> None:
            super()._on_training_start()
            self.start_time = time.perf_counter()
            self.wall_seconds: list[float] = []

        def _on_step(self) -> bool:
            n_evaluations = len(self.evaluations_timesteps)
            keep_going = super()._on_step()
            if len(self.evaluations_timesteps) > n_evaluations and self.log_path is not None:
                self.wall_seconds.append(time.perf_counter() - self.start_time)
                np.savez(
                    self.log_path,
                    timesteps=self.evaluations_timesteps,
                    results=self.evaluations_results,
                    ep_lengths=self.evaluations_length,
                    wall_seconds=self.wall_seconds,
                )
            return keep_going

    class BenchmarkExperimentManager(ResumableExperimentManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.save_path = os.path.join(self.log_path, run_name)
            self.params_path = f"{self.save_path}/{self.env_name}"
            self._start_time = time.perf_counter()

        def create_callbacks(self) -> None:
            super().create_callbacks()  # rl-zoo3's evaluation; self.eval_freq is now per env
            if self.eval_freq > 0 and not self.optimize_hyperparameters:
                self.callbacks.append(
                    TimedEvalCallback(
                        self.create_envs(self.n_eval_envs, eval_env=True),
                        n_eval_episodes=self.n_eval_episodes,
                        eval_freq=self.eval_freq,
                        log_path=os.path.join(self.save_path, OTHER_MODE_FOLDER),
                        deterministic=not self.deterministic_eval,
                        verbose=0,
                    )
                )

        def save_trained_model(self, model: Any) -> None:
            super().save_trained_model(model)
            greedy = self.deterministic_eval
            marker = dict(
                algo=self.algo,
                env=str(self.env_name),
                seed=self.seed,
                n_timesteps=self.n_timesteps,
                n_timesteps_done=int(model.num_timesteps),
                wall_seconds=time.perf_counter() - self._start_time,
                eval_modes={
                    "evaluations.npz": "greedy" if greedy else "sampled",
                    f"{OTHER_MODE_FOLDER}/evaluations.npz": "sampled" if greedy else "greedy",
                },
                command=" ".join(["python -m sb3_udrl.train", *argv]),
                hyperparams=hyperparams_overrides(argv),  # the sweep's --params: the report labels the run with them
                **code_version(),
            )
            if model.num_timesteps >= self.n_timesteps:  # not when stopped early (Ctrl-C: rl-zoo3 still saves)
                Path(self.save_path, MARKER).write_text(json.dumps(marker, indent=1))

    rl_zoo3.train.ExperimentManager = BenchmarkExperimentManager  # type: ignore[misc]
    sys.argv = ["python -m sb3_udrl.train", *argv]
    cli.train()


def train_command(
    run: Run,
    log_folder: Path,
    eval_freq: int,
    eval_episodes: int,
    eval_envs: int = 1,
    hyperparams: Sequence[str] = (),
    conf: Confs = None,
    gym_packages: Sequence[str] = (),
    threads: int | None = None,
) -> list[str]:
    """The command line that trains ``run`` (a new Python process), with ``KEY:VALUE`` overrides of its entry, the
    modules that register its env (rl-zoo3's ``--gym-packages``, e.g. ``vizdoom.gymnasium_wrapper``) and its torch
    threads (rl-zoo3's ``--num-threads``; None: torch's default)."""
    argv = [
        "--algo", run.algo, "--env", run.env, "--seed", str(run.seed), "-n", str(run.n_timesteps),
        "--eval-freq", str(eval_freq), "--eval-episodes", str(eval_episodes), "--n-eval-envs", str(eval_envs),
        "-f", str(log_folder), "--run-name", f"{run.env}_{run.seed}", "--log-interval", "-2",
        "--conf-file", str(conf_file(run.algo, run.env, log_folder, conf)),
    ]  # fmt: skip
    if threads is not None:
        argv += ["--num-threads", str(threads)]
    if hyperparams:
        argv += ["--hyperparams", *hyperparams]
    if gym_packages:
        argv += ["--gym-packages", *gym_packages]
    return [sys.executable, "-m", "sb3_udrl.benchmark", "_train", *argv]


def train_in_folder(run: Run, log_folder: Path, command: list[str]) -> str:
    """
    Run ``command`` (``train_command``) in a fresh folder for ``run`` (a folder left by an interrupted run is removed
    first), its output in ``train.log``.

    :return: ``"done"`` or ``"failed (exit code N, see LOG)"``
    """
    folder = run.folder(log_folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log_path = folder / "train.log"
    with open(log_path, "w") as log:
        returncode = subprocess.call(command, stdout=log, stderr=log)
    if returncode == 0 and is_done(run, log_folder):
        return "done"
    return f"failed (exit code {returncode}, see {log_path})"


def run_sweep(
    runs: Sequence[Run],
    log_folder: Path,
    eval_freq: int = 50_000,
    eval_episodes: int = 20,
    jobs: int = 1,
    eval_envs: int = 1,
    hyperparams: Sequence[str] = (),
    conf: Confs = None,
    gym_packages: Sequence[str] = (),
    threads: int | None = None,
) -> dict[Run, str]:
    """
    Train the runs that are not done, ``jobs`` at a time. A run folder left by an interrupted run is removed first.
    ``eval_envs`` evaluation envs share the ``eval_episodes`` (SB3's ``evaluate_policy``: a fixed share each);
    ``hyperparams`` (``KEY:VALUE``, rl-zoo3's ``--hyperparams``) override every run's entry; ``conf`` replaces
    hyperparameter files (:data:`Confs`); ``gym_packages`` register the envs in each run's process.

    Each run gets ``threads`` torch threads (None: ``cores // jobs``): runs at once with torch's default (every core
    each) spin on the same cores: two runs at once on 2 cores measured 10.8x slower. Two sweeps at once on one machine
    each need their share (``threads=1`` for two sweeps of one job on 2 cores).

    :return: each run's outcome: ``"done before"``, ``"done"`` or ``"failed (exit code N, see LOG)"``
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1; got {threads}")
    log_folder.mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    outcomes: dict[Run, str] = {run: "done before" for run in runs if is_done(run, log_folder)}

    def train(run: Run) -> str:
        command = train_command(run, log_folder, eval_freq, eval_episodes, eval_envs, hyperparams, conf, gym_packages, threads)
        return train_in_folder(run, log_folder, command)

    todo = [run for run in runs if run not in outcomes]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(train, run): run for run in todo}
        for future in concurrent.futures.as_completed(futures):
            run = futures[future]
            outcomes[run] = future.result()
            print(f"{run.algo} {run.env} seed {run.seed}: {outcomes[run]}", flush=True)
    except KeyboardInterrupt:
        # Ctrl-C reaches the runs too: rl-zoo3 saves them, short of their budget (no benchmark.json: redone later)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes
