"""
Where a UDRL run's time-limit cuts come from. Two measurements of one sweep run folder:

1. Its training episodes (the Monitor files), per bin of env steps: the share cut by the time limit, the median length,
   the mean and 90th-percentile return, and the share of episodes returning 200 or more (landings, on LunarLander).
2. Its final agent: greedy episodes until ``--n-states`` of them are still running at step ``--at``; the state there
   (position, speeds, angle, leg contacts) and the action probabilities the behaviour function gives in that state
   under a grid of commands (desired return x desired horizon). An agent that answers its command moves these
   probabilities with it.

Example (the seed-7 sweep run, which hovered)::

    python benchmarks/truncation_probe.py benchmarks/logs/udrl/LunarLander-v3_7 \
        -o benchmarks/results/probes/truncation_udrl_LunarLander-v3_s7.json
    # when did a run first find landings? (training episodes only, per 250k steps)
    python benchmarks/truncation_probe.py benchmarks/logs/udrl/LunarLander-v3_7 --training-only --bin-steps 250000 \
        -o benchmarks/results/probes/training_udrl_LunarLander-v3_s7.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch as th
from stable_baselines3.common.monitor import load_results

from sb3_udrl import UDRL
from sb3_udrl.command_report import make_report_env

STATE_NAMES = ("x", "y", "vx", "vy", "angle", "angular_velocity", "left_leg", "right_leg")


def training_episodes(run_folder: Path, bin_steps: int) -> list[dict[str, Any]]:
    """Share of time-limit cuts, median length, mean and 90th-percentile return and share of returns >= 200 of the
    training episodes per ``bin_steps`` env steps (episodes of all envs in the order they ended; an episode is cut when
    its length is the longest seen)."""
    episodes = load_results(str(run_folder)).sort_values("t")
    limit = int(episodes["l"].max())
    steps = episodes["l"].cumsum()
    rows = []
    for start in range(0, int(steps.iloc[-1]), bin_steps):
        chunk = episodes[(steps > start) & (steps <= start + bin_steps)]
        rows.append(
            dict(
                steps=[start, start + bin_steps],
                episodes=len(chunk),
                truncated_share=float((chunk["l"] >= limit).mean()),
                median_length=float(chunk["l"].median()),
                mean_return=float(chunk["r"].mean()),
                p90_return=float(chunk["r"].quantile(0.9)),
                share_200_or_more=float((chunk["r"] >= 200).mean()),
            )
        )
    return rows


def states_still_running(model: UDRL, env_id: str, at: int, n_states: int, seed: int) -> list[np.ndarray]:
    """Observations of greedy evaluation episodes that are still running at step ``at``."""
    env = make_report_env(model, env_id, n_envs=10, seed=seed)
    obs, state, starts = env.reset(), None, np.ones(env.num_envs, dtype=bool)
    lengths, states = np.zeros(env.num_envs, dtype=int), []
    for _ in range(20_000):
        actions, state = model.predict(obs, state, starts, deterministic=True)
        obs, _, dones, _ = env.step(actions)
        lengths += 1
        starts = dones
        states += [obs["observation"][i].copy() for i in np.flatnonzero((lengths == at) & ~dones)]
        lengths[dones] = 0
        if len(states) >= n_states:
            break
    return states[:n_states]


def action_probabilities(model: UDRL, observation: np.ndarray, returns: list[float], horizons: list[float]) -> list:
    """``[horizon][return]`` -> action probabilities of the behaviour function in ``observation``."""
    policy = model.policy
    table = []
    for horizon in horizons:
        commands = th.tensor([[r, horizon] for r in returns], dtype=th.float32)
        obs = {
            "observation": th.as_tensor(np.repeat(observation[None], len(returns), axis=0)),
            "prev_reward": th.zeros(len(returns), 1),
        }
        with th.no_grad():
            probs = policy.distribution(obs, commands).distribution.probs.numpy()
        table.append(probs.round(3).tolist())
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_folder", type=Path, help="a sweep run folder (its Monitor files and ENV_ID.zip)")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--bin-steps", type=int, default=500_000)
    parser.add_argument("--at", type=int, default=600, help="step at which running episodes are probed")
    parser.add_argument("--n-states", type=int, default=5)
    parser.add_argument("--returns", type=float, nargs="*", default=[-50.0, 0.0, 50.0, 100.0, 150.0, 250.0])
    parser.add_argument("--horizons", type=float, nargs="*", default=[1.0, 10.0, 38.0, 100.0, 300.0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--training-only", action="store_true", help="measure the training episodes only")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file")
    args = parser.parse_args()

    th.set_num_threads(1)
    result: dict[str, Any] = dict(run_folder=str(args.run_folder), training=training_episodes(args.run_folder, args.bin_steps))
    result["states"] = []
    if not args.training_only:
        model = UDRL.load(args.run_folder / f"{args.env}.zip", device="cpu")
        result.update(eval_command=model.policy.eval_command.tolist(), returns=args.returns, horizons=args.horizons)
        for observation in states_still_running(model, args.env, args.at, args.n_states, args.seed):
            result["states"].append(
                dict(
                    state=dict(zip(STATE_NAMES, observation.round(3).tolist(), strict=False)),
                    probabilities=action_probabilities(model, observation, args.returns, args.horizons),
                )
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1))
    print(pd.DataFrame(result["training"]).to_string(index=False))
    for entry in result["states"]:
        print(entry["state"])
        for horizon, row in zip(args.horizons, entry["probabilities"], strict=True):
            print(f"  d_h {horizon:>5.0f}:", "  ".join(" ".join(f"{p:.2f}" for p in probs) for probs in row))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
