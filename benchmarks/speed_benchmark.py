"""Speed of a whole run (UDRL, RCPR or RCPA) against random-action stepping of the same SB3 VecEnv, in one process.

    python -m benchmarks.speed_benchmark --env LunarLander-v3 --n-timesteps 3000000 --overlap-training
    python -m benchmarks.speed_benchmark --algo rcpa --env LunarLander-v3 --n-timesteps 1500000 --overlap-training

Writes benchmarks/results/speed_[{algo}_]{env}[_overlap].json (no algo prefix for UDRL): wall time of random stepping,
of the whole run (collection +
training), of its collection alone (env steps + inference + bookkeeping), and their ratios. Random stepping is timed
on --random-timesteps steps (default: the same budget) and scaled to the run's steps. Both use the benchmarks' VecEnv
(make_vec_env without a render mode); random stepping with make_vec_env's default render mode is recorded too. Run it
on an otherwise idle machine: with --overlap-training the updates run in a learner process on a second core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

import sb3_udrl
from sb3_udrl.benchmark import _zoo_entries, parse_hyperparams
from sb3_udrl.common.base import CommandAlgorithm
from sb3_udrl.zoo import ZOO_ALGOS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


TIMERS = {"collect": 0.0, "train": 0.0, "wait_learner": 0.0, "env_step": 0.0}


@contextmanager
def timed(key: str) -> Iterator[None]:
    """Add the time spent in the block to ``TIMERS[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        TIMERS[key] += time.perf_counter() - start


class TimedPhases(CommandAlgorithm):
    """Mixin that adds the time of an algorithm's collection and training phases to TIMERS (in the main process; with
    overlap_training the updates run in the learner process and only the wait for it is counted)."""

    def collect_rollouts(self, *args, **kwargs):
        with timed("collect"):
            return super().collect_rollouts(*args, **kwargs)

    def train(self, *args, **kwargs):
        with timed("train"):
            return super().train(*args, **kwargs)

    def _train_while_collecting(self, *args, **kwargs):
        collect_before = TIMERS["collect"]
        with timed("wait_learner"):
            result = super()._train_while_collecting(*args, **kwargs)
        TIMERS["wait_learner"] -= TIMERS["collect"] - collect_before  # the collection inside is counted apart
        return result


def timed_class(algorithm_class: type[CommandAlgorithm]) -> type[CommandAlgorithm]:
    """``algorithm_class`` with its phases timed (a subclass of both, so it saves and loads as itself), defined at
    module level under ``Timed{name}`` so that the learner process (spawned) can unpickle it."""
    name = f"Timed{algorithm_class.__name__}"
    timed = type(name, (TimedPhases, algorithm_class), {"__module__": __name__, "__qualname__": name})
    globals()[name] = timed
    return timed


TIMED_ALGOS = {algo: timed_class(algorithm_class) for algo, algorithm_class in ZOO_ALGOS.items()}


def random_stepping_seconds(make_env, n_timesteps: int) -> float:
    env = make_env()
    env.reset()
    n_steps = n_timesteps // env.num_envs
    start = time.perf_counter()
    for _ in range(n_steps):
        env.step(np.array([env.action_space.sample() for _ in range(env.num_envs)]))
    seconds = time.perf_counter() - start
    env.close()
    return seconds


def load_entry(algo: str, env_id: str, overrides: list[str]) -> tuple[dict[str, Any], int, Any]:
    """
    The YAML entry the runner trains with (``hyperparams/{algo}.yml``), with ``--params`` overrides read as rl-zoo3
    reads them: the algorithm's keyword arguments, ``n_envs`` and the ``env_wrapper`` class (None if absent).
    """
    from rl_zoo3.utils import get_wrapper_class

    _, entries = _zoo_entries(algo)
    params = {**entries[env_id], **parse_hyperparams(overrides)}
    wrapper_class = get_wrapper_class(params)
    n_envs = params.pop("n_envs", 1)
    for key in ("n_timesteps", "env_wrapper"):
        params.pop(key, None)
    if isinstance(params.get("policy_kwargs"), str):  # rl-zoo3 evaluates it the same way
        params["policy_kwargs"] = eval(params["policy_kwargs"], {"dict": dict, "nn": nn})
    return params, n_envs, wrapper_class


def make_env(env_id: str, n_envs: int, seed: int, wrapper_class: Any = None) -> VecEnv:
    """The VecEnv of ``sb3_udrl.train``: ``make_vec_env`` (DummyVecEnv + Monitor) without a render mode."""
    return make_vec_env(env_id, n_envs=n_envs, seed=seed, wrapper_class=wrapper_class, env_kwargs={"render_mode": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="udrl", choices=sorted(ZOO_ALGOS))
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--n-timesteps", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-timesteps", type=int, default=0, help="steps of random stepping (0: --n-timesteps)")
    parser.add_argument("--overlap-training", action="store_true", help="overlap_training=True")
    parser.add_argument("--params", nargs="*", default=[], help="hyperparameter overrides key:value")
    args = parser.parse_args()
    th.set_num_threads(1)

    params, n_envs, wrapper_class = load_entry(args.algo, args.env, args.params)

    def make_benchmark_env():
        return make_env(args.env, n_envs, args.seed, wrapper_class)

    random_timesteps = args.random_timesteps or args.n_timesteps
    random_seconds = random_stepping_seconds(make_benchmark_env, random_timesteps)
    # For reference: the same VecEnv with make_vec_env's default render_mode="rgb_array" (LunarLander then simulates
    # its decorative engine particles)
    default_render_timesteps = min(random_timesteps, 200_000)
    default_render_seconds = random_stepping_seconds(
        lambda: make_vec_env(args.env, n_envs=n_envs, seed=args.seed, wrapper_class=wrapper_class), default_render_timesteps
    )
    params["overlap_training"] = args.overlap_training

    env = make_benchmark_env()
    model = TIMED_ALGOS[args.algo](env=env, seed=args.seed, **params)
    timers = TIMERS
    # Time spent inside the VecEnv itself (the fair baseline for collection: a learned policy's episodes need not
    # cost the same per step as random ones)
    step_wait = env.step_wait

    def timed_step_wait():
        with timed("env_step"):
            return step_wait()

    env.step_wait = timed_step_wait
    start = time.perf_counter()
    model.learn(args.n_timesteps, log_interval=None)
    run_seconds = time.perf_counter() - start
    steps = model.num_timesteps

    result = dict(
        algo=ZOO_ALGOS[args.algo].__name__,
        env=args.env,
        n_envs=n_envs,
        vec_env="DummyVecEnv" + (f" + {wrapper_class.__name__}" if wrapper_class else "") + ", render_mode=None",
        n_timesteps=steps,
        overlap_training=args.overlap_training,
        random_timesteps=random_timesteps,
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {th.__version__}, 1 thread",
        sb3_udrl_version=sb3_udrl.__version__,
        command="python -m benchmarks.speed_benchmark " + " ".join(sys.argv[1:]),
        n_updates_per_iter=model.n_updates_per_iter,
        random_stepping_seconds=random_seconds,
        random_steps_per_second=random_timesteps / random_seconds,
        random_steps_per_second_rgb_array_render_mode=default_render_timesteps / default_render_seconds,
        run_seconds=run_seconds,
        run_collect_seconds=timers["collect"],
        run_train_seconds=timers["train"],
        run_wait_learner_seconds_overlap=timers["wait_learner"],
        run_env_step_seconds=timers["env_step"],
        collection_overhead_over_env_stepping=timers["collect"] / timers["env_step"],
        n_gradient_steps=model._n_updates,
        collection_steps_per_second=steps / timers["collect"],
        collection_speed_ratio=(steps / timers["collect"]) / (random_timesteps / random_seconds),
        whole_run_time_ratio=run_seconds / (random_seconds * steps / random_timesteps),
        final_replay_best_return=float(model.replay_buffer.ep_return[: model.replay_buffer.n_episodes].max()),
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = "" if args.algo == "udrl" else f"{args.algo}_"
    name = f"speed_{prefix}{args.env}{'_overlap' if args.overlap_training else ''}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
