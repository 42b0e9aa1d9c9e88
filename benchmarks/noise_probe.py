"""
Is a LunarLander episode's outcome decided by where it starts, or by the engine noise along the way? LunarLander draws
the terrain and the initial push at ``reset(seed)``, and after that only the dispersion of each engine impulse. This
probe resets ``--repeats`` envs to the same start (the same reset seed), then gives each its own noise stream, and runs
the trained agent from there, closed loop from its own evaluation command (Algorithm 2). Repeated for ``--starts``
starts, it splits the landings into a share explained by the start and a share that changes with the noise alone.

A start whose repeats all land (or all crash) is decided by the start; a start where some land and some crash is
decided by the noise, which the command cannot select. For a landed-or-not indicator ``y``, the output gives the share
of its variance within starts, ``mean_s Var(y | s) / Var(y)``: near 0 when the start decides, near 1 when the noise does.

Example (20 starts x 10 noise streams, greedy)::

    python -m benchmarks.noise_probe benchmarks/logs/udrl_10M/udrl/LunarLander-v3_9/LunarLander-v3.zip --deterministic \
        -o benchmarks/results/probes/noise_udrl_LunarLander-v3_10M_s9_greedy.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sb3_udrl import UDRL


def run_start(model: UDRL, env_id: str, start_seed: int, repeats: int, deterministic: bool) -> list[dict[str, Any]]:
    """``repeats`` closed-loop episodes from the start of ``reset(seed=start_seed)``, each with its own engine noise."""
    envs = [gym.make(env_id) for _ in range(repeats)]
    obs = []
    for k, env in enumerate(envs):
        first_obs, _ = env.reset(seed=start_seed)
        # after reset, the env's generator only draws the engines' dispersion: one stream per repeat
        env.unwrapped.np_random = np.random.default_rng([start_seed, k])
        obs.append(first_obs)
    condition, max_return = model.policy.condition, float(model.policy.max_return)
    command = np.tile(model.policy.eval_command.cpu().numpy().astype(np.float64), (repeats, 1))
    returns, lengths = np.zeros(repeats), np.zeros(repeats, dtype=int)
    final_reward = np.zeros(repeats)
    running = np.ones(repeats, dtype=bool)
    observations = np.array(obs)
    while running.any():
        actions = model._act(observations, command, deterministic)
        rewards = np.zeros(repeats)
        for i in np.flatnonzero(running):
            observations[i], rewards[i], terminated, truncated, _ = envs[i].step(actions[i])
            returns[i] += rewards[i]
            lengths[i] += 1
            if terminated or truncated:
                running[i] = False
                final_reward[i] = rewards[i] if terminated else 0.0
        command = condition.update(command, rewards, max_return)
    for env in envs:
        env.close()
    return [
        dict(
            start_seed=start_seed,
            repeat=k,
            episode_return=float(returns[k]),
            length=int(lengths[k]),
            landed=bool(final_reward[k] > 0),
        )
        for k in range(repeats)
    ]


def summarize(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Landing share overall and per start, and the share of the landing indicator's variance within starts."""
    starts = sorted({episode["start_seed"] for episode in episodes})
    landed = np.array([[e["landed"] for e in episodes if e["start_seed"] == s] for s in starts], dtype=float)
    returns = np.array([[e["episode_return"] for e in episodes if e["start_seed"] == s] for s in starts])
    total_var = landed.var()
    within = landed.var(axis=1).mean()
    per_start = landed.mean(axis=1)
    return dict(
        episodes=len(episodes),
        landed_share=float(landed.mean()),
        mean_return=float(returns.mean()),
        within_start_variance_share=float(within / total_var) if total_var > 0 else None,
        starts_all_landed=int((per_start == 1).sum()),
        starts_none_landed=int((per_start == 0).sum()),
        starts_mixed=int(((per_start > 0) & (per_start < 1)).sum()),
        landed_share_per_start=[float(x) for x in per_start],
        mean_return_per_start=[float(x) for x in returns.mean(axis=1)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a saved UDRL agent (.zip)")
    parser.add_argument(
        "--env",
        default="LunarLander-v3",
        help="a LunarLander env with dense rewards: the last reward tells a landing (+100) from a crash (-100)",
    )
    parser.add_argument("--starts", type=int, default=20, help="start states (reset seeds 0 .. starts - 1)")
    parser.add_argument("--repeats", type=int, default=10, help="noise streams per start")
    parser.add_argument("--deterministic", action="store_true", help="greedy actions (default: sampled)")
    parser.add_argument("-o", "--output", required=True, help="JSON file")
    args = parser.parse_args()

    model = UDRL.load(args.model, device="cpu")
    episodes = []
    for start_seed in range(args.starts):
        episodes += run_start(model, args.env, start_seed, args.repeats, args.deterministic)
    result = dict(
        model=args.model, env=args.env, deterministic=args.deterministic, summary=summarize(episodes), episodes=episodes
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    summary = {k: v for k, v in result["summary"].items() if not k.endswith("per_start")}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
