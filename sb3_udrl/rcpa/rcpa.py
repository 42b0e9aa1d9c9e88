"""Reward-Conditioned Policies conditioned on the advantage, RCP-A (Kumar, Peng, Levine 2019), with the value
function and advantages of AWR (Peng et al. 2019)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule

from sb3_udrl.common.buffers import EpisodicReplayBuffer
from sb3_udrl.common.conditions import Advantage
from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.rcp import RCP
from sb3_udrl.common.symmetry import Mirror
from sb3_udrl.common.utils import check_choice, check_float, check_int, lambda_returns
from sb3_udrl.rcpa.policies import CnnPolicy, MlpPolicy, RCPAPolicy

#: When RCP-A draws a new exploratory target (``target_sampling``): once per episode or at every step
TARGET_SAMPLING = ("episode", "step")

#: The paper's RCP-A: exponential weights (section 4), targets from ``N(mu + sigma, sigma)`` (section 4.2), every action
#: from the policy: ``RCPA("MlpPolicy", env, **PAPER_HYPERPARAMS)``. The defaults differ where a measurement favoured
#: the change (docs/modules/rcpa.md); what the paper does not specify follows AWR's official code.
PAPER_HYPERPARAMS: dict[str, Any] = dict(target_spread=1.0, weighting="exp", action_holds=None)


class RCPA(RCP):
    """
    Reward-Conditioned Policies, conditioned on the advantage (RCP-A): https://arxiv.org/abs/1912.13465

    ``pi(a | s, Z)`` with ``Z`` the advantage of the step taken, in standard deviations over the replay. Each
    iteration, as AWR's official code does (https://github.com/xbpeng/awr), the value network ``V`` is fitted to
    TD(lambda) returns computed per episode over the whole replay with the current ``V`` (time-limit cuts bootstrap
    with ``V`` of the final observation, terminations with 0); the advantages ``A = G^lambda - V(s)`` are then
    recomputed with the fitted ``V``, normalised over the replay, and weight each step by
    ``min(exp(A_norm / beta), max_weight)``. New episodes ask for ``Z ~ N(target_shift, target_spread)``, drawn once
    per episode or at every step (``target_sampling``); evaluation asks for ``target_shift``.

    Where this differs from the original research code (which lost 2 of 5 LunarLander seeds): advantages are TD(lambda)
    with the current ``V`` over the whole replay (not Monte-Carlo returns on a few paths), normalised over the replay
    (not per batch), the value network has its own optimiser and targets in reward units, time-limit cuts bootstrap,
    and the exploratory target is drawn from the replay's statistics (not the maximum of the last batch, redrawn every
    step) with half the paper's spread. See the README.

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
    :param target_shift: exploration asks for ``Z ~ N(target_shift, target_spread)`` in standard deviations of the
        replay's advantages (paper, section 4.2: ``N(mu + sigma, sigma)``, i.e. 1); evaluation asks for ``target_shift``
    :param target_sampling: ``"episode"``: one target per episode; ``"step"``: a new target at every step
    :param target_spread: standard deviation of the exploratory target, in standard deviations of the replay's
        advantages (paper: 1; 0.5 asks 2% of the episodes, not 16%, for a below-average advantage); 0: exploration
        asks for ``target_shift`` as evaluation does, and explores by sampling actions only
    :param weighting: ``"binary"`` (CRR's filter: only the steps of above-average advantage count, weight 1; the
        default, docs/modules/rcpa.md), ``"exp"`` (the paper's weighted RCP, AWR's weights) or ``"none"``
    :param beta: temperature of the exponential weights, in standard deviations of the advantage (AWR: 1)
    :param max_weight: cap of the exponential weights (AWR: 20)
    :param ent_coef: entropy coefficient of the policy loss, as PPO's (0: the paper's loss)
    :param replay_buffer_class: the replay (None: :class:`~sb3_udrl.common.buffers.RecentReplayBuffer`)
    :param replay_buffer_kwargs: keyword arguments of the replay besides its size and spaces
    :param action_holds: temporally-extended exploration while collecting (see :class:`~sb3_udrl.UDRL`).
        ``"ez_greedy_decay"`` (the default): ez-greedy's random holds (Dabney et al. 2021) on Discrete actions, fading out
        over the first half of the budget, none on Box actions; ``"ez_greedy"``: the same without the decay
        (docs/modules/rcpa.md). None: the paper
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

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": MlpPolicy, "CnnPolicy": CnnPolicy}
    policy: RCPAPolicy
    # Files saved before target_spread / action_holds existed explored as the paper: a spread of 1, no holds (weighting
    # was always saved)
    _older_file_defaults: ClassVar[dict[str, Any]] = {
        **RCP._older_file_defaults,
        "target_spread": 1.0,
        "action_holds": None,
    }

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
        target_spread: float = 0.5,
        weighting: str = "binary",
        beta: float = 1.0,
        max_weight: float = 20.0,
        ent_coef: float = 0.0,
        replay_buffer_class: type[EpisodicReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        action_holds: ActionHolds | str | None = "ez_greedy_decay",
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
            ent_coef=ent_coef,
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
        self.target_spread = check_float("target_spread", target_spread, low_inclusive=True)
        # V of the replay after the last value fit: weights, values by episode id (_known_values)
        self._value_cache: tuple[list[th.Tensor], dict[int, tuple[np.ndarray, float]]] | None = None
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

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_value_cache"]

    def _update_eval_command(self) -> None:
        # In standard deviations of the replay's advantages: the paper's N(mu + sigma, sigma) is N(1, 1)
        self.target_mean, self.target_std = self.target_shift, self.target_spread
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
    def _values(self, n: int, observations: Callable[[slice], np.ndarray]) -> np.ndarray:
        """
        ``V(s)`` of ``n`` unnormalised observations, in return units, shape ``(n,)``, in chunks of ~16 MB of input
        (so the whole replay's observations are never copied at once).

        :param n: number of observations
        :param observations: the observations of a slice of ``range(n)``
        """
        buffer = self.replay_buffer
        assert buffer is not None
        obs_nbytes = int(np.prod(buffer.obs_shape)) * buffer.observations.itemsize
        chunk = max(1, min(16_384, 2**24 // max(1, obs_nbytes)))
        values = []
        with th.no_grad():
            for start in range(0, n, chunk):
                obs = observations(slice(start, start + chunk))
                values.append(self.policy.scaled_value(th.as_tensor(self._normalize_obs(obs), device=self.device)))
        return th.cat(values).cpu().numpy().astype(np.float64) / (1 - self.gamma) if values else np.zeros(0)

    def _known_values(self) -> dict[int, tuple[np.ndarray, float]]:
        """
        The values of the previous iteration's second pass by episode id (its steps', its final observation's), where
        they are still those of the current ``V``: its weights have not changed since (they change only in the value
        updates, or when weights are loaded or restored) and the observations are not normalised (``VecNormalize``'s
        statistics move as episodes are collected).
        """
        if self._value_cache is None or (self._vec_normalize_env is not None and self._vec_normalize_env.norm_obs):
            return {}
        weights, known = self._value_cache
        now = self.policy.value_parameters()
        same = len(weights) == len(now) and all(th.equal(a, b) for a, b in zip(weights, now, strict=True))
        return known if same else {}

    def _returns_and_values(self, rows: np.ndarray, mask: np.ndarray, remember: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """
        TD(lambda) returns and ``V(s)`` of every kept step with the current ``V``, as ``(n_episodes, max_length)``.

        AWR computes ``V`` over the whole replay before and after fitting it. The pass before takes the values of the
        previous iteration's pass after (:meth:`_known_values`), so only the episodes that arrived since are computed.

        :param rows: the replay's :meth:`~sb3_udrl.common.buffers.EpisodicReplayBuffer.padded_rows`
        :param mask: their mask
        :param remember: keep the values for the next iteration's pass before fitting (the pass after fitting)
        """
        buffer = self.replay_buffer
        assert buffer is not None
        n = buffer.n_episodes
        ids, lengths = buffer.ep_id[:n], buffer.ep_length[:n]
        known = self._known_values()
        is_known = np.fromiter((i in known for i in ids.tolist()), dtype=bool, count=n)
        values, final_values = np.zeros(rows.shape), np.zeros(n)
        for e in np.flatnonzero(is_known):
            values[e, : lengths[e]], final_values[e] = known[int(ids[e])]
        new = mask & ~is_known[:, None]
        new_rows = rows[new]
        values[new] = self._values(len(new_rows), lambda part: buffer.observations_at(new_rows[part]))
        # V(s_T) = 0 after a termination; a time-limit cut bootstraps with V of its final observation
        cut = np.flatnonzero(buffer.ep_truncated[:n] & ~is_known)
        final_values[cut] = self._values(len(cut), lambda part: buffer.ep_final_obs[cut[part]])
        if remember:
            weights = [p.detach().clone() for p in self.policy.value_parameters()]
            self._value_cache = (
                weights,
                {int(ids[e]): (values[e, : lengths[e]].copy(), float(final_values[e])) for e in range(n)},
            )
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
            obs = th.as_tensor(self._normalize_obs(buffer.observations_at(idx)), device=self.device)
            # Targets in reward units: (1 - gamma) G (AWR's value scaling)
            target = th.as_tensor((1 - self.gamma) * row_returns[idx], dtype=th.float32, device=self.device)
            value_loss = F.mse_loss(policy.scaled_value(obs), target)
            self._check_finite_loss(value_loss)
            policy.value_optimizer.zero_grad()
            value_loss.backward()
            policy.value_optimizer.step()
            value_losses.append(value_loss.detach())
        # Advantages with the fitted V, normalised over the whole replay
        returns, values = self._returns_and_values(rows, mask, remember=True)
        advantages = (returns - values)[mask]
        row_values = np.zeros(buffer.capacity, dtype=np.float32)
        row_values[kept] = (advantages - advantages.mean()) / (advantages.std() + 1e-5)
        if value_losses:
            self.logger.record("train/value_loss", th.stack(value_losses).mean().item())
        self.logger.record("train/advantage_std", float(advantages.std()))
        explained = 1 - np.var(returns[mask] - values[mask]) / (np.var(returns[mask]) + 1e-8)
        self.logger.record("train/explained_variance", float(explained))
        return row_values
