"""What RCP-R (:mod:`sb3_udrl.rcpr`) and RCP-A (:mod:`sb3_udrl.rcpa`) share (Reward-Conditioned Policies, Kumar, Peng,
Levine 2019): a replay of the most recent steps, exponentially weighted supervised learning and exploratory targets
drawn from the replay's statistics."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from sb3_udrl.common.base import DEFAULT_TOTAL_TIMESTEPS, CommandAlgorithm
from sb3_udrl.common.buffers import EpisodicReplayBuffer, RecentReplayBuffer
from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.symmetry import Mirror
from sb3_udrl.common.utils import check_float
from sb3_udrl.common.wrappers import base_observation_space

SelfRCP = TypeVar("SelfRCP", bound="RCP")


class RCP(CommandAlgorithm):
    """
    What RCP-R and RCP-A share (RCP paper, Algorithm 1): a replay of the most recent steps, exponentially weighted
    supervised learning of ``pi(a | s, Z)`` on the hindsight ``Z`` of each step, and exploration that asks for a ``Z``
    drawn from ``N(mu + target_shift * sigma, sigma)`` of the replay's ``Z`` (paper, section 4.2).

    See :class:`~sb3_udrl.RCPR` and :class:`~sb3_udrl.RCPA` for the parameters.
    """

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule,
        buffer_size: int,
        batch_size: int,
        n_updates_per_iter: int,
        n_episodes_per_iter: int,
        n_warm_up_episodes: int,
        n_steps_per_iter: int,
        weighting: str,
        beta: float,
        max_weight: float,
        ent_coef: float,
        target_shift: float,
        replay_buffer_class: type[EpisodicReplayBuffer] | None,
        replay_buffer_kwargs: dict[str, Any] | None,
        action_holds: ActionHolds | str | None,
        mirror: Mirror | None,
        overlap_training: bool,
        policy_kwargs: dict[str, Any] | None,
        stats_window_size: int,
        tensorboard_log: str | None,
        seed: int | None,
        verbose: int,
        device: th.device | str,
    ) -> None:
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            batch_size=batch_size,
            n_updates_per_iter=n_updates_per_iter,
            n_episodes_per_iter=n_episodes_per_iter,
            n_warm_up_episodes=n_warm_up_episodes,
            n_steps_per_iter=n_steps_per_iter,
            weighting=weighting,
            beta=beta,
            max_weight=max_weight,
            ent_coef=ent_coef,
            replay_buffer_kwargs=replay_buffer_kwargs,
            action_holds=action_holds,
            mirror=mirror,
            overlap_training=overlap_training,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            seed=seed,
            verbose=verbose,
            device=device,
        )
        self.target_shift = check_float("target_shift", target_shift, low=-np.inf)
        if replay_buffer_class is not None and not (
            isinstance(replay_buffer_class, type) and issubclass(replay_buffer_class, EpisodicReplayBuffer)
        ):
            raise TypeError(f"replay_buffer_class must be an EpisodicReplayBuffer subclass, got {replay_buffer_class!r}")
        self.replay_buffer_class = replay_buffer_class
        # Distribution of the exploratory target, in the condition's units; saved with the model
        self.target_mean = 0.0
        self.target_std = 0.0

    def _make_replay_buffer(self, initial_capacity: int | None = None) -> EpisodicReplayBuffer:
        buffer_class = RecentReplayBuffer if self.replay_buffer_class is None else self.replay_buffer_class
        observation_space = base_observation_space(self.observation_space)
        return buffer_class(
            self.buffer_size, observation_space, self.action_space, initial_capacity, **self.replay_buffer_kwargs
        )

    def _sample_exploratory_commands(self, n: int) -> np.ndarray:
        """``Z ~ N(target_mean, target_std)`` for ``n`` new episodes: shape ``(n, 1)``."""
        return self._rng.normal(self.target_mean, self.target_std, size=(n, 1))

    def _set_eval_command(self, target: float, max_return: float = np.inf) -> None:
        self.policy.eval_command.fill_(target)
        self.policy.max_return.fill_(max_return)

    def _record_command_logs(self) -> None:
        self.logger.record("rollout/target_mean", self.target_mean)
        self.logger.record("rollout/target_std", self.target_std)

    def learn(
        self: SelfRCP,
        total_timesteps: int = DEFAULT_TOTAL_TIMESTEPS,
        callback: MaybeCallback = None,
        log_interval: int | None = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRCP:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=type(self).__name__ if tb_log_name is None else tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
