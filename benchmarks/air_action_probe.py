"""
Which actions a LunarLander agent takes in the air and on the ground. Runs a saved agent (its own evaluation command,
updated after every step as in ``evaluate_policy``) for ``--episodes`` episodes from fixed reset seeds, greedy and
sampled, and counts its actions in the air (``y`` above ``--air-height``, no leg touching the ground) and elsewhere.
An agent that holds the no-op in the air falls without attitude control; a good one uses the side engines there.
Each episode's end is recorded too (how it ended, its return and length, the last reward, ``x``, the speed and the angle
there, and whether the lander left the screen), and per mode the crashes and how far from the pad (``|x|``) they
happened: a lander that drifts sideways and crashes off the pad lacks lateral control, one that crashes on the pad lacks
the last braking. With ``--reference`` the same episodes are also played with one action held throughout (the no-op,
either side engine): the returns a plain crash gives, against which an agent's worst episodes are read (a lander that
turns itself over and falls scores far below -100 without flying away).

Example (an agent trained with held no-ops against one of the default's)::

    python -m benchmarks.air_action_probe benchmarks/logs/probes/udrl_holdnoop/udrl/LunarLander-v3_42/LunarLander-v3.zip \
        benchmarks/logs/probes/udrl_mirror/udrl/LunarLander-v3_30/LunarLander-v3.zip \
        -o benchmarks/results/probes/air_actions_udrl_LunarLander-v3.json

On the sparse env (``--env LunarLanderSparse-v3``; the episode's end is read from the lander, not the last reward)::

    python -m benchmarks.air_action_probe \
        benchmarks/logs/probes/udrl_holdair/udrl/LunarLanderSparse-v3_5{0,1,2}/LunarLanderSparse-v3.zip \
        --env LunarLanderSparse-v3 --episodes 30 -o benchmarks/results/probes/air_actions_udrl_LunarLanderSparse-v3.json

How the worst greedy episodes of the sparse default's fresh seeds end, against plain crashes::

    python -m benchmarks.air_action_probe \
        benchmarks/logs/probes/udrl_mirror_sparse/udrl/LunarLanderSparse-v3_{54..60}/LunarLanderSparse-v3.zip \
        --env LunarLanderSparse-v3 --episodes 50 --reference \
        -o benchmarks/results/probes/episode_ends_udrl_mirror_sparse.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces

from sb3_udrl import UDRL
from sb3_udrl.common.wrappers import RewardFeedback

ACTIONS = ("noop", "left_engine", "main_engine", "right_engine")
SCREEN_EDGE = 1.0  # LunarLander ends an episode as a crash when |x| >= 1 (the lander left the screen)


def action_shares(
    model: "UDRL | HeldAction",
    episodes: int,
    deterministic: bool,
    air_height: float,
    first_seed: int = 1000,
    env_id: str = "LunarLander-v3",
) -> dict[str, Any]:
    """Mean return, and the share of each action among the steps in the air and on or near the ground."""
    env = gym.make(env_id)
    if isinstance(model.observation_space, spaces.Dict):  # trained through rl-zoo3, with the YAML's RewardFeedback
        env = RewardFeedback(env)
    counts = {"air": np.zeros(len(ACTIONS), dtype=np.int64), "ground": np.zeros(len(ACTIONS), dtype=np.int64)}
    returns, ends = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=first_seed + episode)
        state, episode_start, episode_return, done, steps = None, np.array([True]), 0.0, False, 0
        while not done:
            action, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)
            episode_start = np.array([False])
            x = obs["observation"] if isinstance(obs, dict) else obs
            in_air = x[1] > air_height and x[6] == 0 and x[7] == 0
            counts["air" if in_air else "ground"][int(action)] += 1
            obs, reward, terminated, truncated, _ = env.step(int(action))
            episode_return += float(reward)
            steps += 1
            done = terminated or truncated
        x = obs["observation"] if isinstance(obs, dict) else obs
        # The env ends an episode landed when the lander comes to rest, crashed otherwise (a crash, or out of bounds);
        # by the lander's state, not the last reward, which the sparse env makes the whole return
        ended = "truncated" if truncated else ("crashed" if env.unwrapped.lander.awake else "landed")
        ends.append(episode_end(ended, episode_return, steps, reward, x))
        returns.append(episode_return)
    env.close()
    crash_x = [abs(end["x"]) for end in ends if end["ended"] == "crashed"]
    shares = {
        where: dict(steps=int(n.sum()), **{name: float(k / max(n.sum(), 1)) for name, k in zip(ACTIONS, n, strict=True)})
        for where, n in counts.items()
    }
    return dict(
        mean_return=float(np.mean(returns)),
        returns=returns,
        crashes=len(crash_x),
        crashes_left=sum(end["ended"] == "crashed" and end["x"] < 0 for end in ends),  # an agent weak on one side
        crash_abs_x_median=float(np.median(crash_x)) if crash_x else None,
        out_of_bounds=sum(end["out_of_bounds"] for end in ends),
        below_minus_100=[end for end in ends if end["return"] < -100],
        ends=ends,
        **shares,
    )


def episode_end(ended: str, episode_return: float, steps: int, reward: float, x: np.ndarray) -> dict[str, Any]:
    """How an episode ended: the lander's state at its last step (``x``, the observation there)."""
    return dict(
        ended=ended,
        out_of_bounds=bool(abs(x[0]) >= SCREEN_EDGE),
        steps=steps,
        last_reward=float(reward),
        x=float(x[0]),
        vx=float(x[2]),
        speed=float(np.hypot(x[2], x[3])),
        angle=float(x[4]),
        **{"return": episode_return},
    )


class HeldAction:
    """Stands in for an agent in :func:`action_shares`: the same action at every step."""

    def __init__(self, action: int, observation_space: spaces.Space) -> None:
        self.action, self.observation_space = action, observation_space

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False) -> tuple:
        return self.action, state


def plain_crashes(env_id: str, episodes: int, air_height: float = 0.2) -> dict[str, Any]:
    """Returns and lengths of the episodes from the same resets with one action held throughout: plain crashes."""
    env = gym.make(env_id)
    observation_space = env.observation_space
    env.close()
    reference = {}
    for action, name in enumerate(ACTIONS):
        if name == "main_engine":  # held, it flies away: not a crash
            continue
        row = action_shares(HeldAction(action, observation_space), episodes, True, air_height, env_id=env_id)
        reference[name] = dict(
            min=float(np.min(row["returns"])),
            median=float(np.median(row["returns"])),
            max=float(np.max(row["returns"])),
            median_steps=float(np.median([end["steps"] for end in row["ends"]])),
        )
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="saved UDRL agents (.zip) of LunarLander-v3")
    parser.add_argument(
        "--env", default="LunarLander-v3", help="the env the agents were trained on (e.g. LunarLanderSparse-v3)"
    )
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument(
        "--air-height", type=float, default=0.2, help="y (the pad is at 0) above which a step counts as in the air"
    )
    parser.add_argument(
        "--reference", action="store_true", help="also play the same resets with one action held (plain crashes)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args()

    th.set_num_threads(1)
    summary: dict[str, Any] = {}
    reference = plain_crashes(args.env, args.episodes, args.air_height) if args.reference else None
    for name, row in (reference or {}).items():
        print(f"held {name:12s}: returns {row['min']:6.0f} .. {row['max']:6.0f} (median {row['median']:.0f})")
    for path in args.models:
        model = UDRL.load(path, device="cpu")
        for mode, deterministic in (("greedy", True), ("sampled", False)):
            th.manual_seed(0)  # the sampled actions' stream: reruns give the same numbers
            row = action_shares(model, args.episodes, deterministic, args.air_height, env_id=args.env)
            summary.setdefault(str(path), {})[mode] = row
            air = row["air"]
            print(
                f"{path}  {mode:7s} mean {row['mean_return']:6.0f} | in the air ({air['steps']} steps): "
                + ", ".join(f"{name} {air[name]:.2f}" for name in ACTIONS)
                + f" | {row['crashes']} crashes ({row['crashes_left']} left), median |x| {row['crash_abs_x_median']}"
                + f" | {row['out_of_bounds']} out of bounds; below -100: "
                + ", ".join(f"{end['return']:.0f} in {end['steps']} steps" for end in row["below_minus_100"])
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            dict(env=args.env, episodes=args.episodes, air_height=args.air_height, reference=reference, models=summary),
            indent=1,
        )
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
