"""Command-following report: how a trained agent answers a grid of commands (UDRL paper, figure 6).

    python -m sb3_udrl.command_report --algo udrl --env LunarLander-v3 -f logs/
    python -m sb3_udrl.command_report --algo udrl --env LunarLander-v3 -f logs/ --horizons H 0.5H 200
    python -m sb3_udrl.command_report --algo rcpa --env LunarLander-v3 -f logs/ --targets -2 -1 0 1 2

Loads the agent of an rl-zoo3 log folder (``{folder}/{algo}/{env}_{exp_id}/{env}.zip``, or ``--model PATH``), asks it
for each command of the grid, runs ``--n-episodes`` closed-loop episodes per command through ``predict()`` (the
command carried in its state and updated with each reward, as ``evaluate_policy`` does through ``RewardFeedback``),
and writes ``{output}.json`` (with the replay's episodes per return band when the run saved its replay),
``{output}.md`` (a table) and ``{output}.png`` (achieved against desired return, with
the identity line; RCPA: achieved return against the advantage target). Each row tells how the episodes ended:
terminated (LunarLander: the final reward says landed, > 0, or crashed, < 0; the sparse env's dense reward is read
from ``info``) or truncated by the time limit.

The default grid of desired returns runs from poor to the best seen: from the 5th percentile to the maximum of the
training episodes' returns in the run's Monitor files (``--returns`` sets it). UDRL's horizon is its own evaluation
horizon unless ``--horizons`` gives numbers or multiples of it (``0.5H``).
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_udrl.common.base import CommandAlgorithm
from sb3_udrl.common.evaluation import episodes_per_env
from sb3_udrl.common.wrappers import PREV_REWARD_KEY, RewardFeedback
from sb3_udrl.rcpa import RCPA
from sb3_udrl.udrl import UDRL

OUTCOMES = ("landed_or_positive", "crashed_or_negative", "truncated")


def episode_outcomes(
    model: CommandAlgorithm, env: VecEnv, n_episodes: int, deterministic: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """
    Run ``n_episodes`` closed-loop episodes through ``model.predict()`` (a fixed share per env, as SB3's
    ``evaluate_policy``) and tell how each ended: ``"truncated"`` by the time limit, or terminated with a positive or a
    negative final reward (``info["dense_reward"]`` where the env pays its reward at the end only).

    :return: the returns, the lengths and the outcomes
    """
    n_envs = env.num_envs
    targets, counts = episodes_per_env(n_episodes, n_envs), np.zeros(n_envs, dtype=int)
    obs = env.reset()
    state, starts = None, np.ones(n_envs, dtype=bool)
    current_return, current_length = np.zeros(n_envs), np.zeros(n_envs, dtype=int)
    returns, lengths, outcomes = [], [], []
    while (counts < targets).any():
        actions, state = model.predict(obs, state, starts, deterministic=deterministic)
        obs, rewards, dones, infos = env.step(actions)
        current_return += rewards
        current_length += 1
        starts = dones
        for i in np.flatnonzero(dones):
            if counts[i] < targets[i]:
                final_reward = float(infos[i].get("dense_reward", rewards[i]))
                if infos[i].get("TimeLimit.truncated", False):
                    outcomes.append("truncated")
                else:
                    outcomes.append("landed_or_positive" if final_reward > 0 else "crashed_or_negative")
                returns.append(current_return[i])
                lengths.append(current_length[i])
                counts[i] += 1
            current_return[i], current_length[i] = 0.0, 0
    return np.array(returns), np.array(lengths), outcomes


def make_report_env(
    model: CommandAlgorithm, env_id: str, n_envs: int, seed: int, vec_normalize_path: str | None = None
) -> VecEnv:
    """The evaluation VecEnv: ``RewardFeedback`` when the model was trained with it (its closed-loop command), and the
    run's ``VecNormalize`` statistics when given (frozen)."""
    with_feedback = isinstance(model.observation_space, spaces.Dict) and PREV_REWARD_KEY in model.observation_space.spaces
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed, wrapper_class=RewardFeedback if with_feedback else None)
    if vec_normalize_path is not None:
        env = VecNormalize.load(vec_normalize_path, env)
        env.training, env.norm_reward = False, False
    return env


def command_report(
    model: CommandAlgorithm, env: VecEnv, commands: np.ndarray, n_episodes: int = 20, deterministic: bool = False
) -> list[dict[str, Any]]:
    """
    How ``model`` answers each command: the achieved return and length, and how the episodes ended.

    :param model: a trained UDRL, RCPR or RCPA
    :param env: the evaluation VecEnv (see :func:`make_report_env`)
    :param commands: ``(n_commands, command_dim)`` in the condition's units (UDRL: desired return, desired horizon;
        RCPR: desired return-to-go; RCPA: advantage target in standard deviations)
    :param n_episodes: episodes per command
    :param deterministic: greedy actions instead of sampled ones
    :return: one dict per command
    """
    policy = model.policy
    names = policy.condition.names
    commands = np.asarray(commands, dtype=np.float64).reshape(len(commands), -1)
    if commands.shape[1] != len(names):
        raise ValueError(f"{type(model).__name__} takes commands of {len(names)} components {names}; got {commands.shape}")
    own = policy.eval_command.clone()
    rows = []
    try:
        for command in commands:
            policy.eval_command.copy_(th.as_tensor(command, dtype=th.float32))
            returns, lengths, outcomes = episode_outcomes(model, env, n_episodes, deterministic)
            row: dict[str, Any] = dict(zip(names, command.tolist(), strict=True))
            row.update(
                mean_return=float(returns.mean()),
                std_return=float(returns.std()),
                median_return=float(np.median(returns)),
                mean_length=float(lengths.mean()),
                n_episodes=len(returns),
            )
            for outcome in OUTCOMES:
                ended = np.array([o == outcome for o in outcomes])
                row[f"{outcome}_share"] = float(ended.mean())
            rows.append(row)
    finally:
        policy.eval_command.copy_(own)
    return rows


def replay_composition(model: CommandAlgorithm, bands: Sequence[float]) -> list[dict[str, float]]:
    """The replay's episodes per return band: how many, the share cut by the time limit, their mean length (what the
    agent learns from; a replay of hovering episodes cannot teach landing)."""
    buffer = model.replay_buffer
    if buffer is None or buffer.n_episodes == 0:
        return []
    n = buffer.n_episodes
    returns, lengths, truncated = buffer.ep_return[:n], buffer.ep_length[:n], buffer.ep_truncated[:n]
    rows = []
    for low, high in itertools.pairwise(bands):
        inside = (returns >= low) & (returns < high)
        rows.append(
            dict(
                low=float(low),
                high=float(high),
                episodes=int(inside.sum()),
                truncated_share=float(truncated[inside].mean()) if inside.any() else float("nan"),
                mean_length=float(lengths[inside].mean()) if inside.any() else float("nan"),
            )
        )
    return rows


def parse_values(texts: Sequence[str], own: float, symbol: str) -> list[float]:
    """Numbers, or multiples of the agent's own value: ``"H"``, ``"0.5H"``."""
    values = []
    for text in texts:
        if text.endswith(symbol):
            values.append(own * (float(text[: -len(symbol)]) if text != symbol else 1.0))
        else:
            values.append(float(text))
    return values


def monitor_returns(run_folder: str) -> np.ndarray:
    """Returns of the training episodes in the Monitor files of an rl-zoo3 run folder (empty if there are none)."""
    returns = []
    for path in glob.glob(os.path.join(run_folder, "*.monitor.csv")):
        with open(path) as file:
            lines = file.read().splitlines()[2:]  # a JSON header line, then the CSV header
        returns.extend(float(line.split(",")[0]) for line in lines if line)
    return np.array(returns)


def default_returns(model: CommandAlgorithm, run_folder: str | None, n: int = 7) -> list[float]:
    """``n`` desired returns from poor (5th percentile of the training returns) to the best seen."""
    seen = monitor_returns(run_folder) if run_folder else np.array([])
    best = float(model.policy.max_return)
    if len(seen):
        low, high = float(np.percentile(seen, 5)), float(seen.max())
    elif np.isfinite(best):
        low, high = best - 300.0, best
    else:
        raise ValueError("No training returns to span (no Monitor file, no replay maximum): give --returns")
    return np.linspace(low, high, n).round(1).tolist()


def command_grid(model: CommandAlgorithm, args: argparse.Namespace, run_folder: str | None) -> np.ndarray:
    """The commands asked for, from the command line's grid options."""
    if isinstance(model, RCPA):
        return np.array(args.targets, dtype=np.float64).reshape(-1, 1)
    returns = [float(r) for r in args.returns] if args.returns else default_returns(model, run_folder)
    if isinstance(model, UDRL):
        horizons = parse_values(args.horizons, float(model.policy.eval_command[1]), "H")
        return np.array(list(itertools.product(returns, horizons)), dtype=np.float64)
    return np.array(returns, dtype=np.float64).reshape(-1, 1)


def plot_report(rows: Sequence[dict[str, Any]], names: Sequence[str], path: Path, title: str) -> None:
    """Achieved against desired (mean +/- std band), the identity line for returns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 5))
    x_name = names[0]
    groups = sorted({row.get("desired_horizon") for row in rows}, key=lambda h: (h is None, h))
    for horizon in groups:
        group = [row for row in rows if row.get("desired_horizon") == horizon]
        x = np.array([row[x_name] for row in group])
        mean, std = np.array([row["mean_return"] for row in group]), np.array([row["std_return"] for row in group])
        label = f"desired horizon {horizon:.0f}" if horizon is not None else None
        axis.plot(x, mean, marker="o", label=label)
        axis.fill_between(x, mean - std, mean + std, alpha=0.15)
    if x_name != "advantage":
        low, high = min(row[x_name] for row in rows), max(row[x_name] for row in rows)
        axis.plot([low, high], [low, high], color="grey", linestyle=":", label="achieved = desired")
    axis.set_xlabel(x_name.replace("_", " ") + (" target (std of the replay's advantages)" if x_name == "advantage" else ""))
    axis.set_ylabel("achieved return (mean +/- std)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def markdown_table(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> str:
    """The rows as a Markdown table."""
    columns = [*names, "mean_return", "std_return", "mean_length", *(f"{o}_share" for o in OUTCOMES)]
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.0%}" if c.endswith("_share") else f"{row[c]:.1f}" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sb3_udrl.command_report``."""
    from sb3_udrl.zoo import ZOO_ALGOS

    parser = argparse.ArgumentParser(
        prog="python -m sb3_udrl.command_report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algo", required=True, choices=sorted(ZOO_ALGOS))
    parser.add_argument("--env", required=True)
    parser.add_argument("-f", "--folder", default="logs", help="rl-zoo3 log folder")
    parser.add_argument("--exp-id", type=int, default=0, help="run id of the log folder (0: the latest)")
    parser.add_argument("--load-best", action="store_true", help="the run's best_model.zip (rl-zoo3's EvalCallback)")
    parser.add_argument("--model", default=None, help="a saved model (.zip) instead of a log folder's")
    parser.add_argument("--returns", nargs="*", default=None, help="desired returns (default: poor to best seen)")
    parser.add_argument("--horizons", nargs="*", default=["H"], help="UDRL: desired horizons, numbers or 0.5H, H")
    parser.add_argument("--targets", nargs="*", type=float, default=[-2.0, -1.0, 0.0, 1.0, 2.0, 3.0], help="RCPA")
    parser.add_argument("--n-episodes", type=int, default=20, help="episodes per command")
    parser.add_argument("--n-envs", type=int, default=10, help="evaluation envs")
    parser.add_argument("--deterministic", action="store_true", help="greedy actions (default: sampled, the paper's)")
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument(
        "--replay", default=None, help="a saved replay (save_replay_buffer) to describe; default: the run's replay_buffer.pkl"
    )
    parser.add_argument("--bands", nargs="*", type=float, default=[0.0, 100.0, 200.0], help="return bands of the replay")
    parser.add_argument("-o", "--output", default=None, help="output path without suffix (default: in the run folder)")
    args = parser.parse_args(argv)

    algo_class = ZOO_ALGOS[args.algo]
    run_folder, vec_normalize = None, None
    if args.model is not None:
        model_path = args.model
    else:
        from rl_zoo3.utils import get_latest_run_id

        log_path = os.path.join(args.folder, args.algo)
        exp_id = args.exp_id or get_latest_run_id(log_path, args.env)
        run_folder = os.path.join(log_path, f"{args.env}_{exp_id}")
        model_path = os.path.join(run_folder, "best_model.zip" if args.load_best else f"{args.env}.zip")
        candidate = os.path.join(run_folder, args.env, "vecnormalize.pkl")
        vec_normalize = candidate if os.path.isfile(candidate) else None
        if args.replay is None and os.path.isfile(os.path.join(run_folder, "replay_buffer.pkl")):
            args.replay = os.path.join(run_folder, "replay_buffer.pkl")  # rl-zoo3's --save-replay-buffer
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"No model at {model_path}")
    model = algo_class.load(model_path, device="cpu")
    if args.replay is not None:
        model.load_replay_buffer(args.replay)
    commands = command_grid(model, args, run_folder)
    env = make_report_env(model, args.env, args.n_envs, args.seed, vec_normalize)
    rows = command_report(model, env, commands, args.n_episodes, args.deterministic)
    env.close()

    names = model.policy.condition.names
    mode = "greedy" if args.deterministic else "sampled"
    output = Path(args.output) if args.output else Path(model_path).with_name(f"command_report_{mode}")
    output.parent.mkdir(parents=True, exist_ok=True)
    result = dict(
        algo=args.algo,
        env=args.env,
        model=model_path,
        n_timesteps=model.num_timesteps,
        actions=mode,
        own_command=dict(zip(names, model.policy.eval_command.tolist(), strict=True)),
        command=" ".join(["python -m sb3_udrl.command_report", *(sys.argv[1:] if argv is None else argv)]),
        rows=rows,
        replay=replay_composition(model, [-np.inf, *args.bands, np.inf]),
    )
    output.with_suffix(".json").write_text(json.dumps(result, indent=1))
    table = markdown_table(rows, names)
    output.with_suffix(".md").write_text(f"{args.algo} on {args.env}, {model_path}, {mode} actions\n\n{table}")
    plot_report(rows, names, output.with_suffix(".png"), f"{args.algo} on {args.env} ({mode} actions)")
    print(table)
    print(f"Wrote {output}.json, .md and .png")


if __name__ == "__main__":
    main()
