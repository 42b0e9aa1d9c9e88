"""
Does the desired horizon running out cause UDRL's crashes? Evaluates a trained UDRL agent in closed loop with the
horizon update ``d_h <- max(d_h - 1, floor)`` for several floors (1 is the paper's Algorithm 2), greedy and sampled,
and splits the returns between episodes shorter and longer than the agent's own horizon ``H``.

Example (the seed-5 sweep run, 40 episodes per floor and mode)::

    python benchmarks/horizon_floor_probe.py benchmarks/logs/udrl/LunarLander-v3_5/LunarLander-v3.zip \
        --floors 1 0.5H 1000 -n 40 -o benchmarks/results/probes/horizon_floor_udrl_LunarLander-v3_s5.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from sb3_udrl import UDRL
from sb3_udrl.command_report import OUTCOMES, episode_outcomes, make_report_env, parse_values
from sb3_udrl.common.conditions import ReturnHorizon


class FlooredReturnHorizon(ReturnHorizon):
    """UDRL's command update with the desired horizon held at ``floor`` or above instead of 1."""

    def __init__(self, scales: tuple[float, ...], floor: float) -> None:
        super().__init__(*scales)
        self.floor = floor

    def update(self, command: np.ndarray, rewards: np.ndarray | None, max_return: float = np.inf) -> np.ndarray:
        command = super().update(command, rewards, max_return)
        np.maximum(command[:, 1], self.floor, out=command[:, 1])
        return command


def probe(model: UDRL, env_id: str, floors: list[float], n_episodes: int, seed: int) -> list[dict[str, Any]]:
    """One row per (floor, mode): mean/median/min return, the share of episodes longer than ``H`` and the mean return
    of those and of the others, and how the episodes ended."""
    own_condition = model.policy.condition
    horizon = float(model.policy.eval_command[1])
    rows = []
    try:
        for floor in floors:
            model.policy.condition = FlooredReturnHorizon(own_condition.scales, floor)
            for deterministic in (True, False):
                env = make_report_env(model, env_id, n_envs=4, seed=seed)
                returns, lengths, outcomes = episode_outcomes(model, env, n_episodes, deterministic)
                env.close()
                longer = lengths > horizon
                row = dict(
                    floor=floor,
                    mode="greedy" if deterministic else "sampled",
                    mean_return=float(returns.mean()),
                    median_return=float(np.median(returns)),
                    min_return=float(returns.min()),
                    longer_than_horizon_share=float(longer.mean()),
                    longer_mean_return=float(returns[longer].mean()) if longer.any() else None,
                    shorter_mean_return=float(returns[~longer].mean()) if (~longer).any() else None,
                )
                row.update({f"{outcome}_share": float(np.mean([o == outcome for o in outcomes])) for outcome in OUTCOMES})
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        model.policy.condition = own_condition
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("model", help="a saved UDRL model (.zip)")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--floors", nargs="+", default=["1", "0.5H"], help="steps, or multiples of the agent's H")
    parser.add_argument("-n", "--n-episodes", type=int, default=40, help="episodes per floor and mode")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the evaluation envs")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args()
    th.set_num_threads(1)
    model = UDRL.load(args.model, device="cpu")
    horizon = float(model.policy.eval_command[1])
    floors = parse_values(args.floors, horizon, "H")
    rows = probe(model, args.env, floors, args.n_episodes, args.seed)
    result = dict(model=args.model, env=args.env, eval_command=model.policy.eval_command.tolist(), rows=rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
