"""Reward-Conditioned Policies conditioned on the return-to-go, RCP-R (Kumar, Peng, Levine 2019)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch as th
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule

from sb3_udrl.common.buffers import EpisodicReplayBuffer
from sb3_udrl.common.conditions import ReturnToGo
from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.rcp import RCP
from sb3_udrl.common.symmetry import Mirror
from sb3_udrl.common.utils import check_bool, check_choice, check_float, lambda_returns
from sb3_udrl.rcpr.policies import CnnPolicy, MlpPolicy

#: What the exponential weights rank (``weight_by``)
WEIGHT_BY = ("return_to_go", "episode_return")


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
    :param return_scale: factor ``Z`` is multiplied by before entering the network, or ``"auto"``: one over the
        standard deviation of the replay's ``Z``, refreshed each iteration, so that no factor follows the env's return
        range
    :param gamma: discount of the return-to-go ``Z`` (1: undiscounted, the closed-loop update is then exact)
    :param closed_loop: whether ``Z`` follows the rewards while acting, ``Z <- (Z - r_t) / gamma`` (needs the
        ``RewardFeedback`` wrapper outside ``learn()``), or stays at its first value for the whole episode (the RCP
        research code; no wrapper needed)
    :param target_shift: exploration and evaluation ask for ``mu + target_shift * sigma`` of the replay's returns
        (paper, section 4.2: 1)
    :param weighting: ``"exp"`` (the paper's weighted RCP), ``"binary"`` (CRR's filter: only the steps of above-average
        return-to-go count) or ``"none"`` (plain likelihood)
    :param weight_by: what the exponential weights rank: ``"return_to_go"`` (the step's ``Z``, paper eq. 7) or
        ``"episode_return"`` (the undiscounted return of the step's whole episode, as the RCP research code did)
    :param beta: temperature of the exponential weights, in standard deviations of ``Z`` over the replay
    :param max_weight: cap of the exponential weights (AWR: 20)
    :param ent_coef: entropy coefficient of the policy loss, as PPO's (0: the paper's loss)
    :param replay_buffer_class: the replay (None: :class:`~sb3_udrl.common.buffers.RecentReplayBuffer`; e.g.
        :class:`~sb3_udrl.common.buffers.EpisodicReplayBuffer` keeps the best episodes, as UDRL)
    :param replay_buffer_kwargs: keyword arguments of the replay besides its size and spaces
    :param action_holds: temporally-extended exploration while collecting (see :class:`~sb3_udrl.UDRL`; ``"ez_greedy"``:
        ez-greedy's). None: the paper
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

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": MlpPolicy, "CnnPolicy": CnnPolicy}

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
        return_scale: float | str = 0.02,
        gamma: float = 1.0,
        closed_loop: bool = True,
        target_shift: float = 1.0,
        weighting: str = "exp",
        weight_by: str = "return_to_go",
        beta: float = 1.0,
        max_weight: float = 20.0,
        ent_coef: float = 0.0,
        replay_buffer_class: type[EpisodicReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        action_holds: ActionHolds | str | None = None,
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
        if isinstance(return_scale, str) and return_scale != "auto":
            raise ValueError(f"return_scale must be a finite number > 0 or 'auto', got {return_scale!r}")
        self.return_scale = return_scale if return_scale == "auto" else check_float("return_scale", return_scale)
        self.gamma = check_float("gamma", gamma, high=1.0)
        self.closed_loop = check_bool("closed_loop", closed_loop)
        self.weight_by = check_choice("weight_by", weight_by, WEIGHT_BY)
        self.target_max = np.inf
        if _init_setup_model:
            self._setup_model()

    def _policy_kwargs(self) -> dict[str, Any]:
        scale = 1.0 if self.return_scale == "auto" else self.return_scale  # "auto": set from the replay in training
        return dict(self.policy_kwargs, condition=ReturnToGo(scale, self.gamma, self.closed_loop))

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
        row_values = None if self.gamma == 1.0 else self._discounted_returns_to_go()
        if self.return_scale == "auto":
            # Z / std of the replay's Z this iteration (saved with the policy). Not centred: Z keeps its meaning as the
            # replay's mean rises, and the command embedding's bias absorbs an offset
            buffer = self.replay_buffer
            assert buffer is not None
            rows, mask = buffer.padded_rows()
            std = float((buffer.returns_to_go if row_values is None else row_values)[rows[mask]].astype(np.float64).std())
            if std > 0:
                self.policy._command_scale.fill_(1.0 / std)
        return row_values

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
