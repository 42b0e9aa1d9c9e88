"""Closed-loop evaluation with the exact evaluation command: updated after every step with the reward the env returns
(UDRL paper, Algorithm 2), not read back from the observations as ``predict()`` does under ``RewardFeedback``."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import VecEnv

from sb3_udrl.common.policies import CommandPolicy
from sb3_udrl.common.wrappers import base_observation_space


def episodes_per_env(n_episodes: int, n_envs: int) -> np.ndarray:
    """How many of ``n_episodes`` evaluation episodes each of ``n_envs`` envs runs (as SB3's evaluate_policy): counting
    the first episodes to end instead over-represents short ones (LunarLander: crashes end sooner than landings).

    :param n_episodes: episodes to run in all
    :param n_envs: envs running them
    :return: the number of episodes of each env, shape ``(n_envs,)``
    """
    return np.array([(n_episodes + i) // n_envs for i in range(n_envs)])


class EvaluationMixin:
    """:meth:`evaluate` of :class:`~sb3_udrl.common.base.CommandAlgorithm` (which acts with its ``_act``)."""

    policy: CommandPolicy
    observation_space: spaces.Space

    def evaluate(self, env: GymEnv, n_eval_episodes: int = 10, deterministic: bool = True) -> tuple[list[float], list[int]]:
        """
        Run ``n_eval_episodes`` episodes with the evaluation command, updated after every step with the reward
        the env returns (paper, Algorithm 2, with the evaluation cap on the desired return).

        Gives the same returns as ``evaluate_policy(model, RewardFeedback-wrapped env)`` for the same env seeds.

        :param env: a gymnasium env or a VecEnv with the model's spaces
        :param n_eval_episodes: episodes to run
        :param deterministic: greedy actions (False: sample, as the paper does)
        :return: the episode returns and lengths
        """
        vec_env = env if isinstance(env, VecEnv) else self._wrap_env(env, verbose=0, monitor_wrapper=False)
        allowed = (self.observation_space, base_observation_space(self.observation_space))
        if vec_env.observation_space not in allowed:
            raise ValueError(
                f"The evaluation env's observations {vec_env.observation_space} do not match the model's {allowed[0]}"
            )
        n_envs = vec_env.num_envs
        returns: list[float] = []
        lengths: list[int] = []
        targets = episodes_per_env(n_eval_episodes, n_envs)
        counts = np.zeros(n_envs, dtype=int)
        current_return, current_length = np.zeros(n_envs), np.zeros(n_envs, dtype=int)
        obs = vec_env.reset()
        command = self.policy.initial_command(n_envs)
        while (counts < targets).any():
            actions = self._act(self._base_obs(obs), np.stack(command, axis=1), deterministic)
            obs, rewards, dones, _ = vec_env.step(actions)
            current_return += rewards
            current_length += 1
            command = self.policy.next_command(command, rewards)
            initial = self.policy.initial_command(n_envs)
            command = tuple(np.where(dones, c0, c) for c0, c in zip(initial, command, strict=True))
            for i in np.flatnonzero(dones):
                if counts[i] < targets[i]:
                    returns.append(float(current_return[i]))
                    lengths.append(int(current_length[i]))
                    counts[i] += 1
                current_return[i], current_length[i] = 0.0, 0
        return returns, lengths
