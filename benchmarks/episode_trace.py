"""
Step-by-step traces of a trained UDRL agent's worst LunarLander episodes: the closed-loop command ``(d_r, d_h)``, the
action, the reward and the lander's position and vertical speed, to see where and why an episode goes wrong.

Example (the seed-7 sweep run, 30 greedy episodes, the 4 worst traced)::

    python benchmarks/episode_trace.py benchmarks/logs/udrl/LunarLander-v3_7/LunarLander-v3.zip -n 30 --worst 4 \
        --deterministic > benchmarks/results/probes/episode_trace_udrl_LunarLander-v3_s7_greedy.txt
"""

import argparse

import numpy as np
import torch as th

from sb3_udrl import UDRL
from sb3_udrl.command_report import make_report_env

COLUMNS = ("d_r", "d_h", "action", "reward", "x", "y", "vy")


def run_episodes(model: UDRL, env_id: str, n_episodes: int, deterministic: bool, seed: int) -> list[np.ndarray]:
    """``n_episodes`` closed-loop episodes on one env; each as an array of rows ``COLUMNS`` (the state before acting)."""
    env = make_report_env(model, env_id, n_envs=1, seed=seed)
    obs, state, starts = env.reset(), None, np.ones(1, dtype=bool)
    episodes, rows = [], []
    while len(episodes) < n_episodes:
        actions, state = model.predict(obs, state, starts, deterministic=deterministic)
        observation = obs["observation"][0] if isinstance(obs, dict) else obs[0]
        command = [float(np.asarray(component).ravel()[0]) for component in state]
        obs, rewards, starts, _ = env.step(actions)
        rows.append((*command, int(actions[0]), float(rewards[0]), observation[0], observation[1], observation[3]))
        if starts[0]:
            episodes.append(np.array(rows))
            rows = []
    env.close()
    return episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a saved UDRL model (.zip) trained on LunarLander (Discrete actions)")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("-n", "--n-episodes", type=int, default=30)
    parser.add_argument("--worst", type=int, default=4, help="how many of the lowest-return episodes to trace")
    parser.add_argument("--lines", type=int, default=12, help="rows per traced episode")
    parser.add_argument("--deterministic", action="store_true", help="greedy actions")
    parser.add_argument("--seed", type=int, default=2000, help="seed of the evaluation env")
    args = parser.parse_args()
    th.set_num_threads(1)
    model = UDRL.load(args.model, device="cpu")
    episodes = run_episodes(model, args.env, args.n_episodes, args.deterministic, args.seed)
    returns = np.array([episode[:, 3].sum() for episode in episodes])
    print(f"{args.model}: own command {model.policy.eval_command.tolist()}, {'greedy' if args.deterministic else 'sampled'}")
    summary = f"mean return {returns.mean():.1f}, median {np.median(returns):.1f}, min {returns.min():.1f}"
    print(f"{len(episodes)} episodes: {summary}")
    for index in np.argsort(returns)[: args.worst]:
        episode = episodes[index]
        length = len(episode)
        ending = "crash or out of bounds (-100)" if episode[-1, 3] <= -100 else f"last reward {episode[-1, 3]:.1f}"
        main_engine = np.mean(episode[:, 2] == 2)
        print(f"\nreturn {returns[index]:.0f}, {length} steps, ended by {ending}; main engine {main_engine:.0%}")
        print("  " + " ".join(f"{name:>8}" for name in ("t", *COLUMNS)))
        for t in sorted({*range(0, length, max(1, length // args.lines)), length - 1}):
            print("  " + f"{t:>8d} " + " ".join(f"{value:>8.2f}" for value in episode[t]))


if __name__ == "__main__":
    main()
