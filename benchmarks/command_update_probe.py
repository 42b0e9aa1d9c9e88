"""
How UDRL's closed-loop command update shapes its evaluation returns. Evaluates a trained UDRL agent, greedy and sampled,
with variants of the paper's Algorithm 2 update ``d_r <- min(d_r - r_t, cap)``, ``d_h <- max(d_h - 1, floor)``:
horizon floors (1 is the paper's) and return caps (``max``: the best return in the replay, the paper's; ``own``: the
agent's own initial desired return, so that negative rewards cannot raise the command above it). The returns are split
between episodes shorter and longer than the agent's own horizon ``H``.

Examples (40 episodes per variant and mode)::

    # does the horizon running out cause the crashes? (the seed-5 sweep run)
    python benchmarks/command_update_probe.py benchmarks/logs/udrl/LunarLander-v3_5/LunarLander-v3.zip \
        --floors 1 0.25H 0.5H H -n 40 -o benchmarks/results/probes/horizon_floor_udrl_LunarLander-v3_s5.json
    # does a command raised to the cap cause them? (seeds 5-8)
    python benchmarks/command_update_probe.py benchmarks/logs/udrl/LunarLander-v3_6/LunarLander-v3.zip \
        --caps max own -n 40 -o benchmarks/results/probes/return_cap_udrl_LunarLander-v3_s6.json
"""

import argparse
import itertools
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


def probe(model: UDRL, env_id: str, floors: list[float], caps: list[str], n_episodes: int, seed: int) -> list[dict[str, Any]]:
    """One row per (floor, cap, mode): mean/median/min return, the share of episodes longer than ``H`` and the mean
    return of those and of the others, and how the episodes ended."""
    own_condition, own_cap = model.policy.condition, model.policy.max_return.clone()
    horizon = float(model.policy.eval_command[1])
    rows = []
    try:
        for floor, cap, deterministic in itertools.product(floors, caps, (True, False)):
            model.policy.condition = FlooredReturnHorizon(own_condition.scales, floor)
            model.policy.max_return.copy_(own_cap if cap == "max" else model.policy.eval_command[0])
            env = make_report_env(model, env_id, n_envs=4, seed=seed)
            returns, lengths, outcomes = episode_outcomes(model, env, n_episodes, deterministic)
            env.close()
            longer = lengths > horizon
            row = dict(
                floor=floor,
                cap=cap,
                cap_value=float(model.policy.max_return),
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
        model.policy.max_return.copy_(own_cap)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("model", help="a saved UDRL model (.zip)")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--floors", nargs="+", default=["1"], help="steps, or multiples of the agent's H")
    parser.add_argument("--caps", nargs="+", default=["max"], choices=["max", "own"], help="return caps")
    parser.add_argument("-n", "--n-episodes", type=int, default=40, help="episodes per floor and mode")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the evaluation envs")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args()
    th.set_num_threads(1)
    model = UDRL.load(args.model, device="cpu")
    horizon = float(model.policy.eval_command[1])
    floors = parse_values(args.floors, horizon, "H")
    rows = probe(model, args.env, floors, args.caps, args.n_episodes, args.seed)
    result = dict(model=args.model, env=args.env, eval_command=model.policy.eval_command.tolist(), rows=rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
