"""UDRL on your own gymnasium environment.

    python examples/custom_env.py --timesteps 30000

A corridor: the agent starts at 0 and walks left or right; reaching the goal at +N pays 1, each step costs 0.01
and the episode is cut after 50 steps. Any env with a Box/Discrete observation and a Discrete or Box action works.
"""

import argparse

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.env_checker import check_env

from sb3_udrl import UDRL


class Corridor(gym.Env):
    """Walk to the goal: observation = position / length, actions = left / right."""

    def __init__(self, length: int = 8) -> None:
        self.length = length
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.position = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.position / self.length], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position = 0
        return self._obs(), {}

    def step(self, action: int):
        self.position = int(np.clip(self.position + (1 if action == 1 else -1), -self.length, self.length))
        terminated = self.position == self.length
        reward = 1.0 if terminated else -0.01
        return self._obs(), reward, terminated, False, {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=30_000)
    args = parser.parse_args()

    check_env(Corridor())
    env = gym.wrappers.TimeLimit(Corridor(), max_episode_steps=50)
    model = UDRL("MlpPolicy", env, seed=0, return_scale=0.5, horizon_scale=0.02, batch_size=256)
    model.learn(args.timesteps)
    returns, lengths = model.evaluate(gym.wrappers.TimeLimit(Corridor(), max_episode_steps=50), n_eval_episodes=5)
    print(f"mean return {np.mean(returns):.2f}, mean length {np.mean(lengths):.1f} (best possible: 0.93 in 8 steps)")


if __name__ == "__main__":
    main()
