"""Environment wrappers.

``RewardFeedback`` lets ``predict()`` perform the paper's closed-loop command update outside ``learn()``:
SB3's ``evaluate_policy``, ``EvalCallback`` and rl-zoo3's ``enjoy`` only pass observations to the model,
so the wrapper adds the previous step's reward to the observation.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

OBSERVATION_KEY = "observation"
PREV_REWARD_KEY = "prev_reward"


class RewardFeedback(gym.Wrapper):
    """
    Observation becomes ``{"observation": obs, "prev_reward": [r_{t-1}]}`` (``0`` right after a reset), so a
    policy can update its command ``d_r <- d_r - r_{t-1}`` (UDRL paper, Algorithm 2) from observations alone.

    With ``VecNormalize``, normalise only the ``"observation"`` key: ``norm_obs_keys=["observation"]``.

    :param env: environment to wrap (any observation space except ``Dict``)
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if isinstance(env.observation_space, spaces.Dict):
            raise TypeError(f"RewardFeedback wraps non-Dict observation spaces, got {env.observation_space}")
        self.observation_space = spaces.Dict(
            {
                OBSERVATION_KEY: env.observation_space,
                PREV_REWARD_KEY: spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32),
            }
        )

    def _observation(self, obs: Any, reward: float) -> dict[str, Any]:
        return {OBSERVATION_KEY: obs, PREV_REWARD_KEY: np.array([reward], dtype=np.float32)}

    def reset(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._observation(obs, 0.0), info

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(obs, float(reward)), reward, terminated, truncated, info


def is_reward_feedback_space(space: spaces.Space) -> bool:
    """Whether ``space`` is the observation space produced by :class:`RewardFeedback`."""
    return isinstance(space, spaces.Dict) and set(space.spaces) == {OBSERVATION_KEY, PREV_REWARD_KEY}


def base_observation_space(space: spaces.Space) -> spaces.Space:
    """The space the policy network sees: the wrapped observation for :class:`RewardFeedback`, else ``space``."""
    return space[OBSERVATION_KEY] if is_reward_feedback_space(space) else space


class SparseReward(gym.Wrapper):
    """
    Withholds every reward and pays the episode's total at its final step (UDRL paper, section 3.4).

    The total is paid when the episode terminates or is truncated, so the return of every episode is
    unchanged; ``info["dense_reward"]`` keeps the original per-step reward.

    :param env: environment to wrap
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._episode_return = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._episode_return = 0.0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._episode_return += float(reward)
        info["dense_reward"] = reward
        sparse_reward = self._episode_return if (terminated or truncated) else 0.0
        return obs, sparse_reward, terminated, truncated, info
