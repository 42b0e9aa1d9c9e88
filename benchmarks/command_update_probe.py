"""
How UDRL's closed-loop command update shapes its evaluation returns. Evaluates a trained UDRL agent, greedy and sampled,
with variants of the paper's Algorithm 2 update ``d_r <- min(d_r - r_t, cap)``, ``d_h <- max(d_h - 1, floor)``:
horizon floors (1 is the paper's) and return caps (``max``: the best return in the replay, the paper's; ``own``: the
agent's own initial desired return, so that negative rewards cannot raise the command above it; ``envelope``: the most
return-to-go any step with at most ``d_h`` steps to go achieved in the agent's own sampled episodes, a stand-in for its
replay, so that the command stays where the data has examples; ``none``: no cap, what ``eval_return_cap=False`` gives).
The returns are split between episodes shorter and
longer than the agent's own horizon ``H``.

Examples (40 episodes per variant and mode)::

    # does the horizon running out cause the crashes? (the seed-5 sweep run)
    python -m benchmarks.command_update_probe benchmarks/logs/udrl/LunarLander-v3_5/LunarLander-v3.zip \
        --floors 1 0.25H 0.5H H -n 40 -o benchmarks/results/probes/horizon_floor_udrl_LunarLander-v3_s5.json
    # does a command raised to the cap cause them? (seeds 5-8)
    python -m benchmarks.command_update_probe benchmarks/logs/udrl/LunarLander-v3_6/LunarLander-v3.zip \
        --caps max own -n 40 -o benchmarks/results/probes/return_cap_udrl_LunarLander-v3_s6.json
    # does a command outside the data (e.g. 200 more in 1 step once landed) cause them?
    python -m benchmarks.command_update_probe benchmarks/logs/udrl/LunarLander-v3_9/LunarLander-v3.zip \
        --caps max envelope -n 40 -o benchmarks/results/probes/envelope_cap_udrl_LunarLander-v3_s9.json
    # does the cap hold Pendulum's command at a whole episode's return? (rewards all negative)
    python -m benchmarks.command_update_probe \
        benchmarks/logs/probes/udrl_pendulum_uncapped/udrl/Pendulum-v1_10/Pendulum-v1.zip --env Pendulum-v1 \
        --caps max none -n 40 -o benchmarks/results/probes/return_cap_udrl_Pendulum-v1_uncapped_s10.json
"""

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

from benchmarks.episode_trace import run_episodes
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


class EnvelopeCappedReturnHorizon(FlooredReturnHorizon):
    """The floored update with the desired return also capped at ``envelope(d_h)``, a step function given by its
    ``horizons`` (ascending) and ``caps``."""

    def __init__(self, scales: tuple[float, ...], floor: float, horizons: np.ndarray, caps: np.ndarray) -> None:
        super().__init__(scales, floor)
        self.horizons, self.caps = horizons, caps

    def update(self, command: np.ndarray, rewards: np.ndarray | None, max_return: float = np.inf) -> np.ndarray:
        command = super().update(command, rewards, max_return)
        if rewards is not None:
            index = np.clip(np.searchsorted(self.horizons, command[:, 1], side="right") - 1, 0, None)
            np.minimum(command[:, 0], self.caps[index], out=command[:, 0])
        return command


def return_envelope(model: UDRL, env_id: str, n_episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """
    ``(horizons, caps)``: for each number of steps to go ``h`` seen, the most return-to-go of any step with at most ``h``
    steps to go, over ``n_episodes`` sampled episodes of the agent's own command (time-limit cuts left out, as the
    replay leaves them out by default).
    """
    time_limit = gym.spec(env_id).max_episode_steps or np.inf
    steps_to_go, returns_to_go = [], []
    for episode in run_episodes(model, env_id, n_episodes, deterministic=False, seed=seed):
        if len(episode) >= time_limit:
            continue
        rewards = episode[:, 3]
        returns_to_go.append(np.cumsum(rewards[::-1])[::-1])
        steps_to_go.append(np.arange(len(rewards), 0, -1))
    order = np.argsort(np.concatenate(steps_to_go), kind="stable")
    steps, best = np.concatenate(steps_to_go)[order], np.maximum.accumulate(np.concatenate(returns_to_go)[order])
    horizons = np.unique(steps)
    caps = best[np.searchsorted(steps, horizons, side="right") - 1]
    return horizons.astype(np.float64), caps


def probe(
    model: UDRL, env_id: str, floors: list[float], caps: list[str], n_episodes: int, seed: int
) -> tuple[list[dict[str, Any]], dict[str, list[float]] | None]:
    """One row per (floor, cap, mode): mean/median/min return, the share of episodes longer than ``H`` and the mean
    return of those and of the others, and how the episodes ended; and the envelope, where ``caps`` has it."""
    own_condition, own_cap = model.policy.condition, model.policy.max_return.clone()
    horizon = float(model.policy.eval_command[1])
    envelope = return_envelope(model, env_id, n_episodes, seed + 1) if "envelope" in caps else None
    rows = []
    try:
        for floor, cap, deterministic in itertools.product(floors, caps, (True, False)):
            if cap == "envelope":
                model.policy.condition = EnvelopeCappedReturnHorizon(own_condition.scales, floor, *envelope)
            else:
                model.policy.condition = FlooredReturnHorizon(own_condition.scales, floor)
            cap_value = {"own": model.policy.eval_command[0], "none": th.tensor(float("inf"))}.get(cap, own_cap)
            model.policy.max_return.copy_(cap_value)
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
    return rows, None if envelope is None else dict(horizons=envelope[0].tolist(), caps=envelope[1].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("model", help="a saved UDRL model (.zip)")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--floors", nargs="+", default=["1"], help="steps, or multiples of the agent's H")
    parser.add_argument("--caps", nargs="+", default=["max"], choices=["max", "own", "envelope", "none"], help="return caps")
    parser.add_argument("-n", "--n-episodes", type=int, default=40, help="episodes per floor and mode")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the evaluation envs")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args()
    th.set_num_threads(1)
    model = UDRL.load(args.model, device="cpu")
    horizon = float(model.policy.eval_command[1])
    floors = parse_values(args.floors, horizon, "H")
    rows, envelope = probe(model, args.env, floors, args.caps, args.n_episodes, args.seed)
    result = dict(model=args.model, env=args.env, eval_command=model.policy.eval_command.tolist(), rows=rows)
    if envelope is not None:
        result["envelope"] = envelope
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
