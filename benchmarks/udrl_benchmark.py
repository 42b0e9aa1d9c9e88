"""Learning-curve benchmark of UDRL, RCPR and RCPA: several seeds, periodic closed-loop evaluation, results to JSON + PNG.

Example (the LunarLander numbers in the README; one process per seed, merged by summarize.py):
    python benchmarks/udrl_benchmark.py --env LunarLander-v3 --seeds 0 --n-timesteps 3000000 --eval-freq 50000 \
        --n-eval-episodes 20 --stochastic-eval --name s0
    python benchmarks/udrl_benchmark.py --algo rcpa --env LunarLander-v3 --seeds 0 --n-timesteps 1500000

Each evaluation runs both action modes: the main one (greedy, or sampled with --stochastic-eval: the paper's) is
``mean_return``, the other ``mean_return_other_mode`` (--one-mode skips it).

Hyperparameters come from hyperparams/{algo}.yml (the rl-zoo3 files), overridable with --params key:value.
Result files: benchmarks/results/{algo}_{env}[_{name}].json|png (under results/probes/ for names probe*).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from torch import nn  # noqa: F401  (used by eval of policy_kwargs)

import sb3_udrl
from sb3_udrl.zoo import ZOO_ALGOS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def load_hyperparams(env_id: str, overrides: list[str], algo: str = "udrl") -> dict[str, Any]:
    with open(ROOT / "hyperparams" / f"{algo}.yml") as file:
        params = dict(yaml.safe_load(file)[env_id])
    for item in overrides:
        key, value = item.split(":", 1)
        try:
            # Python literals and dict(...); no builtins, so that a bare word such as "all" stays a string
            params[key] = eval(value, {"__builtins__": {}}, {"dict": dict})
        except (NameError, SyntaxError):  # a bare word: a string (shells strip quotes)
            params[key] = value
    if isinstance(params.get("policy_kwargs"), str):
        params["policy_kwargs"] = eval(params["policy_kwargs"])
    if isinstance(params.get("replay_buffer_class"), str):  # e.g. sb3_udrl.common.buffers.EpisodicReplayBuffer
        params["replay_buffer_class"] = import_by_name(params["replay_buffer_class"])
    return params


def import_by_name(name: str) -> Any:
    """``"package.module.Class"`` -> the class (how rl-zoo3 reads ``env_wrapper``)."""
    module, attr = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attr)


# SB3's make_vec_env creates envs with render_mode="rgb_array" unless told otherwise. LunarLander then simulates its
# engine particles as Box2D bodies (decoration only: without a render mode gymnasium skips them, and the dynamics and
# random draws are the same), which made stepping 2.4x slower under random actions and 4x under main-engine-heavy
# policies on our machine. Benchmarks never render.
BENCHMARK_ENV_KWARGS: dict[str, Any] = {"render_mode": None}


def make_env(env_id: str, n_envs: int, seed: int, wrapper_class: Any = None) -> Any:
    """The VecEnv every benchmark uses: ``make_vec_env`` (DummyVecEnv + Monitor) without a render mode."""
    return make_vec_env(env_id, n_envs=n_envs, seed=seed, wrapper_class=wrapper_class, env_kwargs=BENCHMARK_ENV_KWARGS)


def split_env_settings(params: dict[str, Any]) -> tuple[int, int | None, Any]:
    """Take the keys of a YAML entry that are not UDRL arguments out of ``params``: ``n_envs``, ``n_timesteps`` and
    the ``env_wrapper`` class (None if absent)."""
    n_envs = params.pop("n_envs", 1)
    n_timesteps = params.pop("n_timesteps", None)
    wrapper_class = import_by_name(params.pop("env_wrapper")) if "env_wrapper" in params else None
    return n_envs, n_timesteps, wrapper_class


class EvalLogger(BaseCallback):
    """Closed-loop evaluation (UDRL.evaluate) every ``eval_freq`` steps; its time is kept out of the training time."""

    def __init__(
        self,
        env_id: str,
        eval_freq: int,
        n_eval_episodes: int,
        seed: int,
        deterministic: bool,
        wrapper_class: Any = None,
        both_modes: bool = True,
    ) -> None:
        super().__init__()
        self.both_modes = both_modes
        self.on_record: Any = None  # called after each evaluation (writes the partial results)
        self.eval_env = make_env(env_id, min(n_eval_episodes, 10), seed + 10_000, wrapper_class)
        self.eval_freq, self.n_eval_episodes, self.deterministic = eval_freq, n_eval_episodes, deterministic
        self.next_eval = eval_freq
        self.records: list[dict[str, float]] = []
        self.eval_seconds = 0.0

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_eval:
            self.next_eval += self.eval_freq
            start = time.perf_counter()
            returns, lengths = self.model.evaluate(self.eval_env, self.n_eval_episodes, deterministic=self.deterministic)
            other_returns = [float("nan")]
            if self.both_modes:
                other_returns, _ = self.model.evaluate(
                    self.eval_env, self.n_eval_episodes, deterministic=not self.deterministic
                )
            self.eval_seconds += time.perf_counter() - start
            record = dict(
                timesteps=self.num_timesteps,
                mean_return=float(np.mean(returns)),
                std_return=float(np.std(returns)),
                mean_length=float(np.mean(lengths)),
                # the other action mode (sampled if the main one is greedy), for comparison
                mean_return_other_mode=float(np.mean(other_returns)),
                train_return=float(np.mean([info["r"] for info in self.model.ep_info_buffer])),
                # the command asked for at evaluation (UDRL: desired return and horizon; RCP: the target Z)
                eval_command=[float(c) for c in self.model.policy.eval_command],
                replay_mean_length=float(np.mean(self.model.replay_buffer.ep_length[: self.model.replay_buffer.n_episodes])),
                replay_truncated=float(np.mean(self.model.replay_buffer.ep_truncated[: self.model.replay_buffer.n_episodes])),
            )
            self.records.append(record)
            if self.verbose:
                print(record, flush=True)
            if self.on_record is not None:
                self.on_record(self)
        return True


def run(args: argparse.Namespace, seed: int, write: Any) -> dict[str, Any]:
    """Train one seed; ``write(partial_result)`` is called after every evaluation and at the end."""
    params = load_hyperparams(args.env, args.params, args.algo)
    n_envs, yaml_timesteps, wrapper_class = split_env_settings(params)
    n_timesteps = int(args.n_timesteps or yaml_timesteps)
    env = make_env(args.env, n_envs, seed, wrapper_class)
    model = ZOO_ALGOS[args.algo](env=env, seed=seed, **params)
    callback = EvalLogger(
        args.env, args.eval_freq, args.n_eval_episodes, seed, not args.stochastic_eval, wrapper_class, not args.one_mode
    )
    callback.verbose = 1
    start = time.perf_counter()

    def result(complete: bool) -> dict[str, Any]:
        wall = time.perf_counter() - start
        curve = callback.records
        return dict(
            seed=seed,
            complete=complete,
            params={k: str(v) for k, v in params.items()},
            n_envs=n_envs,
            n_timesteps=n_timesteps,
            timesteps_done=model.num_timesteps,
            wall_seconds=wall,
            train_seconds=wall - callback.eval_seconds,
            final_return=curve[-1]["mean_return"] if curve else float("nan"),
            best_return=max((r["mean_return"] for r in curve), default=float("nan")),
            curve=list(curve),
        )

    callback.on_record = lambda _: write(result(complete=False))
    model.learn(n_timesteps, callback=callback, log_interval=None)
    final = result(complete=True)
    write(final)
    return final


def plot(results: list[dict[str, Any]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result in results:
        steps = [r["timesteps"] for r in result["curve"]]
        ax.plot(steps, [r["mean_return"] for r in result["curve"]], label=f"seed {result['seed']}", alpha=0.8)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean evaluation return (main mode)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="udrl", choices=sorted(ZOO_ALGOS))
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-timesteps", type=int, default=0, help="0: the YAML's n_timesteps")
    parser.add_argument("--eval-freq", type=int, default=50_000)
    parser.add_argument("--n-eval-episodes", type=int, default=20)
    parser.add_argument("--stochastic-eval", action="store_true", help="sample actions at evaluation (the paper's way)")
    parser.add_argument("--one-mode", action="store_true", help="evaluate in one action mode only (cheaper)")
    parser.add_argument("--params", nargs="*", default=[], help="hyperparameter overrides key:value")
    parser.add_argument("--name", default="", help="suffix of the result files")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    folder = RESULTS / "probes" if args.name.startswith("probe") else RESULTS  # exploratory runs: probes/INDEX.md
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{args.algo}_{args.env}{'_' + args.name if args.name else ''}"
    results: list[dict[str, Any]] = []

    def write(current: dict[str, Any]) -> None:
        runs = [*results, current]
        finals = [r["final_return"] for r in runs]
        summary = dict(
            env=args.env,
            algo=ZOO_ALGOS[args.algo].__name__,
            sb3_udrl_version=sb3_udrl.__version__,
            command=" ".join(["python", *os.sys.argv]),
            eval_mode="sampled" if args.stochastic_eval else "greedy",
            seeds=[r["seed"] for r in runs],
            complete=all(r["complete"] for r in runs),
            final_returns=finals,
            median_final_return=float(np.median(finals)),
            min_final_return=float(np.min(finals)),
            max_final_return=float(np.max(finals)),
            median_train_seconds=float(np.median([r["train_seconds"] for r in runs])),
            runs=runs,
        )
        (folder / f"{stem}.json").write_text(json.dumps(summary, indent=1))
        plot(runs, f"{ZOO_ALGOS[args.algo].__name__} on {args.env} ({len(runs)} seeds)", folder / f"{stem}.png")

    for seed in args.seeds:
        results.append(run(args, seed, write))
        print(f"seed {seed}: final {results[-1]['final_return']:.1f}, train {results[-1]['train_seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
