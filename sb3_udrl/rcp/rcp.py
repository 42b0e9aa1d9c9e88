"""Reward-Conditioned Policies (Kumar, Peng, Levine 2019): RCP-R and RCP-A."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from sb3_udrl.common.base import DEFAULT_TOTAL_TIMESTEPS, CommandAlgorithm
from sb3_udrl.common.buffers import EpisodicReplayBuffer, RecentReplayBuffer
from sb3_udrl.common.conditions import Advantage, ReturnToGo
from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.symmetry import Mirror
from sb3_udrl.common.utils import check_bool, check_choice, check_float, check_int, lambda_returns
from sb3_udrl.common.wrappers import base_observation_space
from sb3_udrl.rcp.policies import RCPACnnPolicy, RCPAPolicy, RCPRCnnPolicy, RCPRPolicy

SelfRCP = TypeVar("SelfRCP", bound="RCP")

TARGET_SAMPLING = ("episode", "step")
WEIGHT_BY = ("return_to_go", "episode_return")


class RCP(CommandAlgorithm):
    """
    What RCP-R and RCP-A share (RCP paper, Algorithm 1): a replay of the most recent steps, exponentially weighted
    supervised learning of ``pi(a | s, Z)`` on the hindsight ``Z`` of each step, and exploration that asks for a ``Z``
    drawn from ``N(mu + target_shift * sigma, sigma)`` of the replay's ``Z`` (paper, section 4.2).

    See :class:`RCPR` and :class:`RCPA` for the parameters.
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
        target_shift: float,
        replay_buffer_class: type[EpisodicReplayBuffer] | None,
        replay_buffer_kwargs: dict[str, Any] | None,
        action_holds: ActionHolds | None,
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
        self.replay_buffer_kwargs = {} if replay_buffer_kwargs is None else dict(replay_buffer_kwargs)
        # Distribution of the exploratory target, in the condition's units; saved with the model
        self.target_mean = 0.0
        self.target_std = 0.0

    def _make_replay_buffer(self, initial_capacity: int = 65_536) -> EpisodicReplayBuffer:
        buffer_class = RecentReplayBuffer if self.replay_buffer_class is None else self.replay_buffer_class
        observation_space = base_observation_space(self.observation_space)
        kwargs = dict(self.replay_buffer_kwargs, initial_capacity=initial_capacity)
        return buffer_class(self.buffer_size, observation_space, self.action_space, **kwargs)

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


class RCPR(RCP):
    """
    Reward-Conditioned Policies, conditioned on the return-to-go (RCP-R): https://arxiv.org/abs/1912.13465

    A policy ``pi(a | s, Z)`` learns by supervised learning on the agent's own recent steps, each relabelled with the
    return-to-go ``Z`` it actually achieved and weighted by ``min(exp(Z_norm / beta), max_weight)`` (paper, eq. 7,
    with AWR's normalisation and cap). New episodes ask for ``Z_0 ~ N(mu + target_shift * sigma, sigma)`` of the
    replay's episode returns, updated while acting with ``Z <- (Z - r_t) / gamma`` like UDRL's desired return, or held
    for the whole episode (``closed_loop=False``, the research code; with ``gamma < 1`` the closed loop multiplies any
    shortfall by ``1 / gamma`` per step); evaluation asks for ``mu + target_shift * sigma``, capped at the best return in
    the replay (UDRL's cap).

    Original research code (RCP + UDRL): https://github.com/TrentBrick/RewardConditionedUDRL

    :param policy: the policy: ``"MlpPolicy"``, ``"CnnPolicy"`` or a :class:`~sb3_udrl.common.policies.CommandPolicy`
        subclass
    :param env: environment to learn from (or its gymnasium id)
    :param learning_rate: Adam learning rate, constant or schedule of the remaining progress
    :param buffer_size: steps the replay keeps: the most recent ones, as whole episodes (the RCP code: 100k; AWR: 50k)
    :param batch_size: mini-batch size of each gradient step
    :param n_updates_per_iter: gradient steps per iteration
    :param n_episodes_per_iter: episodes collected per iteration when ``n_steps_per_iter`` is 0
    :param n_warm_up_episodes: random-action episodes that fill the replay first
    :param n_steps_per_iter: environment steps collected per iteration (AWR: 2048); 0: ``n_episodes_per_iter``
        episodes instead
    :param return_scale: factor ``Z`` is multiplied by before entering the network
    :param gamma: discount of the return-to-go ``Z`` (1: undiscounted, the closed-loop update is then exact)
    :param closed_loop: whether ``Z`` follows the rewards while acting, ``Z <- (Z - r_t) / gamma`` (needs the
        ``RewardFeedback`` wrapper outside ``learn()``), or stays at its first value for the whole episode (the RCP
        research code; no wrapper needed)
    :param target_shift: exploration and evaluation ask for ``mu + target_shift * sigma`` of the replay's returns
        (paper, section 4.2: 1)
    :param weighting: ``"exp"`` (the paper's weighted RCP) or ``"none"`` (plain likelihood)
    :param weight_by: what the exponential weights rank: ``"return_to_go"`` (the step's ``Z``, paper eq. 7) or
        ``"episode_return"`` (the undiscounted return of the step's whole episode, as the RCP research code did)
    :param beta: temperature of the exponential weights, in standard deviations of ``Z`` over the replay
    :param max_weight: cap of the exponential weights (AWR: 20)
    :param replay_buffer_class: the replay (None: :class:`~sb3_udrl.common.buffers.RecentReplayBuffer`; e.g.
        :class:`~sb3_udrl.common.buffers.EpisodicReplayBuffer` keeps the best episodes, as UDRL)
    :param replay_buffer_kwargs: keyword arguments of the replay besides its size and spaces
    :param action_holds: temporally-extended exploration while collecting (see :class:`~sb3_udrl.UDRL`). None: the
        paper
    :param mirror: a mirror symmetry of the env: each training sample is reflected with probability 1/2 (see
        :class:`~sb3_udrl.UDRL`). None: the paper
    :param overlap_training: run each iteration's gradient steps in a learner process (see :class:`~sb3_udrl.UDRL`)
    :param policy_kwargs: keyword arguments of the policy (``net_arch``, ``activation_fn``, ``conditioning``, ...)
    :param stats_window_size: episodes averaged by the rollout logs
    :param tensorboard_log: TensorBoard log folder (None: no TensorBoard)
    :param seed: random seed
    :param verbose: 0 silent, 1 info, 2 debug
    :param device: torch device
    :param _init_setup_model: whether to build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": RCPRPolicy, "CnnPolicy": RCPRCnnPolicy}

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 5e-4,
        buffer_size: int = 50_000,
        batch_size: int = 256,
        n_updates_per_iter: int = 500,
        n_episodes_per_iter: int = 20,
        n_warm_up_episodes: int = 50,
        n_steps_per_iter: int = 2048,
        return_scale: float = 0.02,
        gamma: float = 1.0,
        closed_loop: bool = True,
        target_shift: float = 1.0,
        weighting: str = "exp",
        weight_by: str = "return_to_go",
        beta: float = 1.0,
        max_weight: float = 20.0,
        replay_buffer_class: type[EpisodicReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        action_holds: ActionHolds | None = None,
        mirror: Mirror | None = None,
        overlap_training: bool = False,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        seed: int | None = None,
        verbose: int = 0,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
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
            target_shift=target_shift,
            replay_buffer_class=replay_buffer_class,
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
        self.return_scale = check_float("return_scale", return_scale)
        self.gamma = check_float("gamma", gamma, high=1.0)
        self.closed_loop = check_bool("closed_loop", closed_loop)
        self.weight_by = check_choice("weight_by", weight_by, WEIGHT_BY)
        self.target_max = np.inf
        if _init_setup_model:
            self._setup_model()

    def _policy_kwargs(self) -> dict[str, Any]:
        return dict(self.policy_kwargs, condition=ReturnToGo(self.return_scale, self.gamma, self.closed_loop))

    def _discounted_returns_to_go(self) -> np.ndarray:
        """Per-row discounted return-to-go over the replay (``gamma < 1``)."""
        buffer = self.replay_buffer
        assert buffer is not None
        rows, mask = buffer.padded_rows()
        rewards = np.where(mask, buffer.rewards[rows], 0.0)
        zeros = np.zeros(len(rows))
        returns = lambda_returns(rewards, np.zeros_like(rewards), zeros, mask, self.gamma, 1.0)
        row_values = np.zeros(buffer.capacity, dtype=np.float32)
        row_values[rows[mask]] = returns[mask]
        return row_values

    def _prepare_training(self, batch_size: int) -> np.ndarray | None:
        return None if self.gamma == 1.0 else self._discounted_returns_to_go()

    def _row_weights(self, row_values: np.ndarray | None) -> np.ndarray | None:
        if self.weight_by == "return_to_go":
            return super()._row_weights(row_values)
        # Every step of an episode ranks by that episode's return: the return-to-go also reflects how far a step is
        # from the end of its episode (LunarLander: high early, low near touchdown), the episode return does not
        buffer = self.replay_buffer
        assert buffer is not None
        rows, mask = buffer.padded_rows()
        episode_returns = np.zeros(buffer.capacity, dtype=np.float32)
        episode_returns[rows[mask]] = np.broadcast_to(buffer.ep_return[: buffer.n_episodes, None], rows.shape)[mask]
        return super()._row_weights(episode_returns)

    def _update_eval_command(self) -> None:
        """Targets from the replay's (discounted) episode returns: ``N(mu + target_shift * sigma, sigma)`` for
        exploration, ``min(mu + target_shift * sigma, max)`` for evaluation."""
        buffer = self.replay_buffer
        if buffer is None or buffer.n_episodes == 0:
            return
        n = buffer.n_episodes
        if self.gamma == 1.0:
            returns = buffer.ep_return[:n]
            self.target_max = float(returns.max())
        else:
            # Z grows within an episode under (Z - r) / gamma: the cap is the largest return-to-go of any step
            returns_to_go = self._discounted_returns_to_go()
            returns = returns_to_go[buffer.ep_start[:n]].astype(np.float64)
            rows, mask = buffer.padded_rows()
            self.target_max = float(returns_to_go[rows[mask]].max())
        mean, std = float(returns.mean()), float(returns.std())
        self.target_mean, self.target_std = mean + self.target_shift * std, std
        self._set_eval_command(min(self.target_mean, self.target_max), self.target_max)


class RCPA(RCP):
    """
    Reward-Conditioned Policies, conditioned on the advantage (RCP-A): https://arxiv.org/abs/1912.13465

    ``pi(a | s, Z)`` with ``Z`` the advantage of the step taken, in standard deviations over the replay. Each
    iteration, as AWR's official code does (https://github.com/xbpeng/awr), the value network ``V`` is fitted to
    TD(lambda) returns computed per episode over the whole replay with the current ``V`` (time-limit cuts bootstrap
    with ``V`` of the final observation, terminations with 0); the advantages ``A = G^lambda - V(s)`` are then
    recomputed with the fitted ``V``, normalised over the replay, and weight each step by
    ``min(exp(A_norm / beta), max_weight)``. New episodes ask for ``Z ~ N(target_shift, 1)``, drawn once per episode
    or at every step (``target_sampling``); evaluation asks for ``target_shift``.

    Where this differs from the original research code (which lost 2 of 5 LunarLander seeds): advantages are TD(lambda)
    with the current ``V`` over the whole replay (not Monte-Carlo returns on a few paths), normalised over the replay
    (not per batch), the value network has its own optimiser and targets in reward units, time-limit cuts bootstrap,
    and the exploratory target is drawn from the replay's statistics (not the maximum of the last batch, redrawn every
    step). See the README.

    :param policy: the policy: ``"MlpPolicy"``, ``"CnnPolicy"`` or a
        :class:`~sb3_udrl.common.policies.ValueCommandPolicy` subclass
    :param env: environment to learn from (or its gymnasium id)
    :param learning_rate: Adam learning rate of the policy, constant or schedule of the remaining progress
    :param buffer_size: steps the replay keeps: the most recent ones, as whole episodes (AWR: 50k)
    :param batch_size: mini-batch size of each gradient step (policy and value)
    :param n_updates_per_iter: policy gradient steps per iteration
    :param n_episodes_per_iter: episodes collected per iteration when ``n_steps_per_iter`` is 0
    :param n_warm_up_episodes: random-action episodes that fill the replay first
    :param n_steps_per_iter: environment steps collected per iteration (AWR: 2048); 0: ``n_episodes_per_iter``
        episodes instead
    :param n_value_updates_per_iter: value gradient steps per iteration (AWR: 200 per 2048 new steps)
    :param value_learning_rate: Adam learning rate of the value network
    :param gamma: discount
    :param gae_lambda: lambda of the TD(lambda) returns (AWR: 0.95)
    :param advantage_scale: factor the normalised advantage is multiplied by before entering the network
    :param target_shift: exploration asks for ``Z ~ N(target_shift, 1)`` in standard deviations of the replay's
        advantages (paper, section 4.2: ``N(mu + sigma, sigma)``, i.e. 1); evaluation asks for ``target_shift``
    :param target_sampling: ``"episode"``: one target per episode; ``"step"``: a new target at every step
    :param weighting: ``"exp"`` (the paper's weighted RCP, AWR's weights) or ``"none"``
    :param beta: temperature of the exponential weights, in standard deviations of the advantage (AWR: 1)
    :param max_weight: cap of the exponential weights (AWR: 20)
    :param replay_buffer_class: the replay (None: :class:`~sb3_udrl.common.buffers.RecentReplayBuffer`)
    :param replay_buffer_kwargs: keyword arguments of the replay besides its size and spaces
    :param action_holds: temporally-extended exploration while collecting (see :class:`~sb3_udrl.UDRL`). None: the
        paper
    :param mirror: a mirror symmetry of the env: each training sample is reflected with probability 1/2 (see
        :class:`~sb3_udrl.UDRL`). None: the paper
    :param overlap_training: run each iteration's updates in a learner process (see :class:`~sb3_udrl.UDRL`)
    :param policy_kwargs: keyword arguments of the policy (``net_arch``, ``value_net_arch``, ...)
    :param stats_window_size: episodes averaged by the rollout logs
    :param tensorboard_log: TensorBoard log folder (None: no TensorBoard)
    :param seed: random seed
    :param verbose: 0 silent, 1 info, 2 debug
    :param device: torch device
    :param _init_setup_model: whether to build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": RCPAPolicy, "CnnPolicy": RCPACnnPolicy}
    policy: RCPAPolicy

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 5e-4,
        buffer_size: int = 50_000,
        batch_size: int = 256,
        n_updates_per_iter: int = 500,
        n_episodes_per_iter: int = 20,
        n_warm_up_episodes: int = 50,
        n_steps_per_iter: int = 2048,
        n_value_updates_per_iter: int = 200,
        value_learning_rate: float = 1e-3,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        advantage_scale: float = 1.0,
        target_shift: float = 1.0,
        target_sampling: str = "episode",
        weighting: str = "exp",
        beta: float = 1.0,
        max_weight: float = 20.0,
        replay_buffer_class: type[EpisodicReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        action_holds: ActionHolds | None = None,
        mirror: Mirror | None = None,
        overlap_training: bool = False,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        seed: int | None = None,
        verbose: int = 0,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
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
            target_shift=target_shift,
            replay_buffer_class=replay_buffer_class,
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
        self.n_value_updates_per_iter = check_int("n_value_updates_per_iter", n_value_updates_per_iter, minimum=0)
        self.value_learning_rate = check_float("value_learning_rate", value_learning_rate)
        # gamma < 1: the value targets are scaled by (1 - gamma)
        self.gamma = check_float("gamma", gamma, high=1.0 - 1e-6)
        self.gae_lambda = check_float("gae_lambda", gae_lambda, low_inclusive=True, high=1.0)
        self.advantage_scale = check_float("advantage_scale", advantage_scale)
        self.target_sampling = check_choice("target_sampling", target_sampling, TARGET_SAMPLING)
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._update_eval_command()

    def _policy_kwargs(self) -> dict[str, Any]:
        return dict(
            self.policy_kwargs, condition=Advantage(self.advantage_scale), value_learning_rate=self.value_learning_rate
        )

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer", "policy.value_optimizer"], []

    def _update_eval_command(self) -> None:
        # In standard deviations of the replay's advantages: N(mu + target_shift * sigma, sigma) is N(target_shift, 1)
        self.target_mean, self.target_std = self.target_shift, 1.0
        self._set_eval_command(self.target_shift)

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        super().set_parameters(*args, **kwargs)
        # load(path, target_shift=x): the evaluation target follows the (possibly overridden) hyperparameter
        self._update_eval_command()

    def _update_command(self, command: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        if self.target_sampling == "step":
            return self._sample_exploratory_commands(len(command))
        return command  # the advantage asked for does not change within an episode

    # ----------------------------------------------------------------------------------------------------------
    # Value function and advantages (AWR's official code, learning/awr_agent.py: _update)
    def _values(self, obs: np.ndarray) -> np.ndarray:
        """``V(s)`` of unnormalised observations, in return units, shape ``(n,)`` (in chunks of ~16 MB of input)."""
        chunk = max(1, min(16_384, 2**24 // max(1, obs[0].nbytes if len(obs) else 1)))
        values = []
        with th.no_grad():
            for start in range(0, len(obs), chunk):
                obs_tensor = th.as_tensor(self._normalize_obs(obs[start : start + chunk]), device=self.device)
                values.append(self.policy.scaled_value(obs_tensor).cpu().numpy())
        return np.concatenate(values).astype(np.float64) / (1 - self.gamma) if values else np.zeros(0)

    def _returns_and_values(self, rows: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TD(lambda) returns and ``V(s)`` of every kept step with the current ``V``, as ``(n_episodes, max_length)``."""
        buffer = self.replay_buffer
        assert buffer is not None
        n = buffer.n_episodes
        values = np.zeros(rows.shape)
        values[mask] = self._values(buffer.observations[rows[mask]])
        # V(s_T) = 0 after a termination; a time-limit cut bootstraps with V of its final observation
        final_values = np.where(buffer.ep_truncated[:n], self._values(buffer.ep_final_obs[:n]), 0.0)
        rewards = np.where(mask, buffer.rewards[rows], 0.0)
        return lambda_returns(rewards, values, final_values, mask, self.gamma, self.gae_lambda), values

    def _prepare_training(self, batch_size: int) -> np.ndarray:
        """Fit ``V`` to TD(lambda) returns, then return the normalised advantages of every replay row."""
        buffer = self.replay_buffer
        assert buffer is not None
        policy = self.policy
        rows, mask = buffer.padded_rows()
        kept = rows[mask]
        returns, _ = self._returns_and_values(rows, mask)
        row_returns = np.zeros(buffer.capacity)
        row_returns[kept] = returns[mask]
        value_losses = []
        for _ in range(self.n_value_updates_per_iter):
            idx = kept[self._train_rng.integers(len(kept), size=batch_size)]
            obs = th.as_tensor(self._normalize_obs(buffer.observations[idx]), device=self.device)
            # Targets in reward units: (1 - gamma) G (AWR's value scaling)
            target = th.as_tensor((1 - self.gamma) * row_returns[idx], dtype=th.float32, device=self.device)
            value_loss = F.mse_loss(policy.scaled_value(obs), target)
            self._check_finite_loss(value_loss)
            policy.value_optimizer.zero_grad()
            value_loss.backward()
            policy.value_optimizer.step()
            value_losses.append(value_loss.detach())
        # Advantages with the fitted V, normalised over the whole replay
        returns, values = self._returns_and_values(rows, mask)
        advantages = (returns - values)[mask]
        row_values = np.zeros(buffer.capacity, dtype=np.float32)
        row_values[kept] = (advantages - advantages.mean()) / (advantages.std() + 1e-5)
        if value_losses:
            self.logger.record("train/value_loss", th.stack(value_losses).mean().item())
        self.logger.record("train/advantage_std", float(advantages.std()))
        explained = 1 - np.var(returns[mask] - values[mask]) / (np.var(returns[mask]) + 1e-8)
        self.logger.record("train/explained_variance", float(explained))
        return row_values
