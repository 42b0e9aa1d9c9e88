"""Collection of episodes (UDRL paper, Algorithm 2): every env acts under its own command, updated after each step
with the reward received, and each ended episode enters the replay (or waits for the learner process's next order)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_udrl.common.buffers import EpisodeStaging, EpisodicReplayBuffer
from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.learner import Episode
from sb3_udrl.common.policies import CommandPolicy


class CollectionMixin:
    """
    ``collect_rollouts`` of :class:`~sb3_udrl.common.base.CommandAlgorithm` and the acting it relies on. The commands
    come from the algorithm's ``_sample_exploratory_commands`` and ``_update_command``; observations are handled by
    :class:`~sb3_udrl.common.observations.ObservationMixin`.
    """

    # The state collection reads and writes (set up by CommandAlgorithm and SB3's BaseAlgorithm)
    policy: CommandPolicy
    replay_buffer: EpisodicReplayBuffer | None
    action_space: spaces.Space
    action_holds: ActionHolds | None
    store_truncated: bool
    device: th.device
    num_timesteps: int
    _total_timesteps: int
    _episode_num: int
    _last_obs: Any
    _last_original_obs: Any
    _vec_normalize_env: VecNormalize | None
    _current_progress_remaining: float
    _rng: np.random.Generator
    _staging: EpisodeStaging | None  # the steps of the episodes in progress
    _command: np.ndarray | None  # each env's command, (n_envs, command_dim)
    _deferred_episodes: list[Episode] | None  # with overlap_training: ended episodes stored once collection ends

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, n_episodes: int, random_actions: bool, n_steps: int = 0
    ) -> bool:
        """
        Run the envs until ``n_episodes`` episodes end (or, if ``n_steps > 0``, for ``n_steps`` environment steps),
        storing each ended episode in the replay.

        Each env acts under its own command, drawn with :meth:`_sample_exploratory_commands` when its episode
        starts and updated after every step; episodes still running carry over to the next call.

        :param env: the training VecEnv
        :param callback: called once per ``env.step()``; returning False stops collection
        :param n_episodes: episodes to finish
        :param random_actions: act uniformly at random (the paper's warm-up)
        :param n_steps: environment steps to collect instead (0: count episodes)
        :return: False if the callback asked to stop
        """
        assert self._staging is not None and self.replay_buffer is not None and self._command is not None
        self.policy.set_training_mode(False)
        callback.on_rollout_start()
        n_finished, n_collected = 0, 0
        # The budget is checked at every step too: an env whose episodes never end must not run past it
        while ((n_collected < n_steps) if n_steps > 0 else (n_finished < n_episodes)) and (
            self.num_timesteps < self._total_timesteps
        ):
            if random_actions:
                actions = self.policy.random_actions(env.num_envs)
            else:
                actions = self._act(self._base_obs(self._last_obs), self._command)  # type: ignore[arg-type]
                actions = self._hold(actions)
            new_obs, rewards, dones, infos = self._step(env, actions)
            self.num_timesteps += env.num_envs
            n_collected += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                # This step is not stored: the episodes in progress would miss it, so they are abandoned (the next
                # learn() resets the env and starts fresh ones)
                self._staging = None
                return False
            self._update_info_buffer(infos, dones)

            # Store what the env really produced (VecNormalize: original obs and rewards, in true return units)
            if self._vec_normalize_env is not None:
                original_obs, original_rewards = self._last_original_obs, self._vec_normalize_env.get_original_reward()
            else:
                original_obs, original_rewards = self._last_obs, rewards
            new_original_obs = new_obs if self._vec_normalize_env is None else self._vec_normalize_env.get_original_obs()
            ended = np.flatnonzero(dones)
            final_observations = {i: self._final_observation(infos[i]) for i in ended}
            try:
                if not np.all(np.isfinite(original_rewards)):
                    raise ValueError(f"The environment returned a non-finite reward: {original_rewards}")
                self._check_obs_shape(self._base_obs(new_obs).shape[1:])  # type: ignore[union-attr]
                self._check_finite_obs(new_original_obs)
                for final_observation in final_observations.values():
                    if final_observation is not None:
                        self._check_obs_shape(final_observation.shape, "a final observation")
                        self._check_finite_obs(final_observation[None], "a final observation")
            except ValueError:
                self._staging = None  # nothing of this step is stored; the episodes in progress are abandoned
                raise
            self._staging.add(self._stored_obs(self._base_obs(original_obs)), actions, original_rewards)  # type: ignore[arg-type]
            # Algorithm 2: d_r <- d_r - r_t, d_h <- max(d_h - 1, 1)
            self._command = self._update_command(self._command, original_rewards)

            for i in ended:
                truncated = bool(infos[i].get("TimeLimit.truncated", False))
                observations, actions, episode_rewards = self._staging.pop(i)
                final_observation = final_observations[i]
                if self._deferred_episodes is not None:
                    # The learner process trains on the replay as it was sent: store these once collection ends
                    steps = (observations.copy(), actions.copy(), episode_rewards.copy())
                    self._deferred_episodes.append(Episode(*steps, truncated, final_observation))
                elif self._stores(truncated):
                    self.replay_buffer.add_episode(observations, actions, episode_rewards, truncated, final_observation)
                self._command[i] = self._sample_exploratory_commands(1)[0]
                if self.action_holds is not None:
                    self.action_holds.reset(i)  # a held action ends with its episode
                self._episode_num += 1
                n_finished += 1

            self._last_obs = new_obs
            if self._vec_normalize_env is not None:
                self._last_original_obs = new_original_obs
        callback.on_rollout_end()
        return True

    def _stores(self, truncated: bool) -> bool:
        """Whether an ended episode enters the replay: all do, except time-limit-truncated ones when
        ``store_truncated`` is False and the replay already holds a terminated episode."""
        if not truncated or self.store_truncated:
            return True
        buffer = self.replay_buffer
        assert buffer is not None
        return bool(buffer.ep_truncated[: buffer.n_episodes].all())

    def _act(self, obs: np.ndarray, command: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Sample ``a_t ~ B(s_t, c_t)`` for all envs at once (the mode if ``deterministic``)."""
        with th.no_grad():
            obs_tensor = th.as_tensor(obs, device=self.device)
            command_tensor = th.as_tensor(command, dtype=th.float32, device=self.device)
            actions = self.policy(obs_tensor, command_tensor, deterministic).cpu().numpy()
        if isinstance(self.action_space, spaces.Box):
            # the Gaussian is over the flattened action: back to the space's shape (e.g. (2, 2))
            actions = np.clip(actions.reshape(-1, *self.action_space.shape), self.action_space.low, self.action_space.high)
        return actions

    def _hold(self, actions: np.ndarray) -> np.ndarray:
        """``action_holds``: the actions with the held ones in place (:class:`~sb3_udrl.common.exploration.ActionHolds`)."""
        if self.action_holds is None:
            return actions

        def observations() -> np.ndarray:  # original units, as stored
            vec_normalize = self._vec_normalize_env
            obs = self._last_obs if vec_normalize is None else vec_normalize.get_original_obs()
            return np.asarray(self._base_obs(obs))  # type: ignore[arg-type]

        return self.action_holds(
            actions, observations, self._current_progress_remaining, self._rng, self.policy.random_actions
        )

    def _step(self, env: VecEnv, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """``env.step(actions)``, with the VecEnv's error on an observation of another shape made clear."""
        try:
            return env.step(actions)
        except ValueError as error:
            shape_error = self._observation_shape_error(error)
            if shape_error is None:
                raise
            self._staging = None  # the step did not complete: the episodes in progress are abandoned
            raise shape_error from error
