"""
How much of a trained agent's LunarLander return comes from the episode's random start rather than from its actions.
LunarLander starts each episode with a random push on the lander; the first observation holds the speed it gave.
Runs sampled episodes of each agent's own command (as its training episodes are collected) and reports, per agent,
the share of landings (return >= 200), the first observation's speeds for landings and for the other episodes, and
the correlation of each speed with the return. Where the landings are the episodes that started with a favourable
push, the returns the behaviour function is trained to reach are luck, and the command cannot be answered.

Example (the seed-11 run that crashed throughout, and seed 10 of the same sweep)::

    python benchmarks/initial_state_probe.py benchmarks/logs/probes/udrl_trunc_recent/udrl/LunarLander-v3_1{0,1} \
        -n 800 -o benchmarks/results/probes/initial_state_udrl_LunarLander-v3.json
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch as th

from sb3_udrl import UDRL
from sb3_udrl.command_report import make_report_env

LANDING = 200.0


def starts_and_returns(model: UDRL, env_id: str, n_episodes: int, seed: int, n_envs: int = 8) -> np.ndarray:
    """Rows ``(vx, vy, return)``: the first observation's speeds and the return of ``n_episodes`` sampled episodes."""
    env = make_report_env(model, env_id, n_envs=n_envs, seed=seed)
    obs, state, starts = env.reset(), None, np.ones(n_envs, dtype=bool)
    first_speed = obs["observation"][:, 2:4].copy()
    returns, rows = np.zeros(n_envs), []
    while len(rows) < n_episodes:
        actions, state = model.predict(obs, state, starts, deterministic=False)
        obs, rewards, starts, _ = env.step(actions)
        returns += rewards
        for i in np.flatnonzero(starts):
            rows.append((*first_speed[i], returns[i]))
            returns[i] = 0.0
            first_speed[i] = obs["observation"][i, 2:4]  # the next episode's first observation (auto-reset)
    env.close()
    return np.array(rows[:n_episodes])


def summary(rows: np.ndarray) -> dict[str, float]:
    speeds, returns = {"vx": rows[:, 0], "vy": rows[:, 1]}, rows[:, 2]
    landed = returns >= LANDING
    result = dict(episodes=len(rows), landing_share=float(landed.mean()), mean_return=float(returns.mean()))
    for name, speed in speeds.items():
        result[f"{name}_landings"] = float(speed[landed].mean()) if landed.any() else float("nan")
        result[f"{name}_others"] = float(speed[~landed].mean()) if (~landed).any() else float("nan")
        result[f"corr_{name}_return"] = float(np.corrcoef(speed, returns)[0, 1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_folders", type=Path, nargs="+", help="sweep run folders (each with ENV_ID.zip)")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("-n", "--n-episodes", type=int, default=800)
    parser.add_argument("--seed", type=int, default=7000, help="seed of the evaluation envs")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file")
    args = parser.parse_args()
    th.set_num_threads(1)
    results = {}
    for folder in args.run_folders:
        model = UDRL.load(folder / f"{args.env}.zip", device="cpu")
        results[str(folder)] = summary(starts_and_returns(model, args.env, args.n_episodes, args.seed))
        print(folder, json.dumps({key: round(value, 3) for key, value in results[str(folder)].items()}), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
