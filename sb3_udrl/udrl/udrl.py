"""Upside-Down Reinforcement Learning (Srivastava et al. 2019)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from sb3_udrl.common.base import DEFAULT_TOTAL_TIMESTEPS, CommandAlgorithm
from sb3_udrl.common.buffers import EpisodicReplayBuffer
from sb3_udrl.common.conditions import ReturnHorizon
from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.symmetry import Mirror
from sb3_udrl.common.utils import check_action_bins, check_bool, check_choice, check_float, check_int
from sb3_udrl.common.wrappers import base_observation_space
from sb3_udrl.udrl.policies import CnnPolicy, MlpPolicy, UDRLPolicy

SelfUDRL = TypeVar("SelfUDRL", bound="UDRL")

COMMAND_EPISODES = ("all", "terminated", "terminated_horizon")

#: The paper's algorithm with its common LunarLander hyperparameters (100 updates per iteration, the command from the
#: 75 best episodes, a replay of the best episodes only, every episode stored, the desired return capped at evaluation
#: only, no mirrored samples): ``UDRL("MlpPolicy", env, **PAPER_HYPERPARAMS)``. The defaults differ where a measurement
#: favoured the change (README, "The algorithm, and where it differs from the paper").
PAPER_HYPERPARAMS: dict[str, Any] = dict(
    n_updates_per_iter=100,
    last_few=75,
    recent_episodes=0,
    recent_command=False,
    store_truncated=True,
    command_episodes="all",
    cap_desired_return=False,
    action_bins=None,
)


class UDRL(CommandAlgorithm):
    """
    Upside-Down Reinforcement Learning: https://arxiv.org/abs/1912.02877

    A behaviour function ``B(s, c)`` maps an observation and a command ``c = (desired_return, desired_horizon)``
    to an action. It is learned by supervised learning on the agent's own episodes, relabelled in hindsight with
    the return and horizon they actually achieved, from a replay that keeps the best episodes seen so far (and, by
    default, the 200 most recent ones: ``recent_episodes``).

    Original research code (RCP + UDRL): https://github.com/TrentBrick/RewardConditionedUDRL

    :param policy: the policy: ``"MlpPolicy"``, ``"CnnPolicy"`` or a :class:`~sb3_udrl.udrl.policies.UDRLPolicy`
        subclass
    :param env: environment to learn from (or its gymnasium id)
    :param learning_rate: Adam learning rate, constant or schedule of the remaining progress
    :param replay_size: number of episodes the replay keeps: the ones with the highest returns (section 2.3.1)
    :param batch_size: mini-batch size of each gradient step
    :param n_updates_per_iter: gradient steps per iteration (Algorithm 1)
    :param n_episodes_per_iter: episodes generated per iteration (Algorithm 1)
    :param n_warm_up_episodes: random-action episodes that fill the replay first (Algorithm 1)
    :param last_few: number of best episodes the exploratory command is computed from (section 2.3.4)
    :param return_scale: factor the desired return is multiplied by before entering the network (section 3.2)
    :param horizon_scale: factor the desired horizon is multiplied by before entering the network (section 3.2)
    :param command_episodes: which of the best episodes the exploratory command (section 2.3.4) is computed from:
        ``"all"`` (the paper: the ``last_few`` best), ``"terminated"`` (the ``last_few`` best that *terminated*:
        episodes cut by a time limit have no outcome to command, see the README) or ``"terminated_horizon"``
        (returns from all, horizon from the terminated ones). Falls back to ``"all"`` while none terminated.
    :param return_bonus: added to the upper end of the exploratory range, ``d_r ~ U[M, M + S + return_bonus]``, in
        return units (0: the paper's range). When the best episodes all reach about the same return, ``S`` vanishes
        and the command only ever asks for what the agent already does; the bonus keeps asking for a little more
        (see the README, CartPole). Commands above the best return need ``cap_desired_return=False``
    :param cap_desired_return: also cap the desired return at the best return in the replay while collecting
        (the paper caps it at evaluation only; the original research code capped both)
    :param action_bins: Box actions: the behaviour function outputs a categorical over this many evenly spaced values
        per action dimension, so that its greedy action is a mode of the data rather than the mean of several (the
        Gaussian's: a lander that never fires its engines, README, Box actions); None: a Gaussian. Ignored for
        Discrete actions; ``policy_kwargs["action_bins"]``, where given, takes precedence
    :param eval_return_cap: cap the desired return at the best return in the replay during evaluation (Algorithm 2).
        Set False where every reward is negative (Pendulum): there ``d_r <- d_r - r_t`` raises the command at each
        step up to the cap, a whole episode's return, which it then asks for in the steps left (README, Box actions)
    :param store_truncated: what becomes of episodes cut by a time limit. ``True``: stored like any other (the
        paper). ``False``: dropped once the replay holds an episode that terminated: their hindsight horizon ``T - t1``
        is the time limit's, not an outcome of the agent (the hovering failure on LunarLander, see the README).
        Set ``True`` where reaching the time limit is the goal (CartPole)
    :param recent_episodes: number of most recent episodes the replay keeps besides the ``replay_size`` best ones
        (0: the paper's replay of the best episodes only). Keeps the training data moving when the agent falls far
        below its best episodes (the frozen-replay failure, see the README)
    :param recent_command: compute the exploratory command from the ``last_few`` best of the ``recent_episodes``
        most recent episodes instead of the whole replay (the command follows what the agent achieves now)
    :param ent_coef: entropy coefficient of the loss, as PPO's: each update also maximises ``ent_coef`` times the
        entropy of ``B(s, c)``. 0: the paper's loss
    :param action_holds: temporally-extended exploration while collecting (an
        :class:`~sb3_udrl.common.exploration.ActionHolds`): actions held for several steps, so that the replay holds
        what a held action leads to. Env-specific ones live in :mod:`sb3_udrl.envs` (LunarLander's no-op held on the
        ground: :func:`~sb3_udrl.envs.lunar_lander.ground_holds`). ``"ez_greedy"``: ez-greedy's random holds (Dabney et al.
        2021) on Discrete actions, none on Box actions. None: the paper
    :param mirror: a mirror symmetry of the env (a :class:`~sb3_udrl.common.symmetry.Mirror`, e.g.
        :func:`~sb3_udrl.envs.lunar_lander.lunar_lander_mirror`): each training sample is reflected with probability
        1/2, so that episodes on one side teach the other. None: the paper
    :param overlap_training: run each iteration's gradient steps in a learner process (a second core) while its
        episodes are collected with the previous iteration's weights (one iteration of lag; scripts need the
        ``if __name__ == "__main__":`` guard, as with ``SubprocVecEnv``). During ``learn()`` this process then acts
        with one torch thread, leaving the other cores to the learner. Both processes map one replay in shared
        memory (``/dev/shm`` where it has room, else the temp directory). False: Algorithm 1's order
    :param replay_buffer_kwargs: keyword arguments of the replay
        (:class:`~sb3_udrl.common.buffers.EpisodicReplayBuffer`) besides what the arguments above set, e.g.
        ``frame_stack`` for observations of stacked frames
    :param policy_kwargs: keyword arguments of the policy (``net_arch``, ``activation_fn``, ``conditioning``, ...)
    :param stats_window_size: episodes averaged by the rollout logs
    :param tensorboard_log: TensorBoard log folder (None: no TensorBoard)
    :param seed: random seed
    :param verbose: 0 silent, 1 info, 2 debug
    :param device: torch device
    :param _init_setup_model: whether to build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": MlpPolicy, "CnnPolicy": CnnPolicy}
    _replay_arguments: ClassVar[dict[str, str | None]] = {
        "buffer_size": "replay_size",
        "n_recent": "recent_episodes",
        "initial_capacity": None,
    }
    # Files saved before eval_return_cap existed capped the evaluation's desired return
    _older_file_defaults: ClassVar[dict[str, Any]] = {**CommandAlgorithm._older_file_defaults, "eval_return_cap": True}
    policy: UDRLPolicy

    def __init__(
        self,
        policy: str | type[UDRLPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 1e-3,
        replay_size: int = 500,
        batch_size: int = 768,
        n_updates_per_iter: int = 200,
        n_episodes_per_iter: int = 20,
        n_warm_up_episodes: int = 10,
        last_few: int = 20,
        return_scale: float = 0.02,
        horizon_scale: float = 0.01,
        command_episodes: str = "terminated",
        return_bonus: float = 0.0,
        cap_desired_return: bool = True,
        eval_return_cap: bool = True,
        action_bins: int | None = 11,
        store_truncated: bool = False,
        recent_episodes: int = 200,
        recent_command: bool = True,
        ent_coef: float = 0.0,
        action_holds: ActionHolds | str | None = None,
        mirror: Mirror | None = None,
        overlap_training: bool = False,
        replay_buffer_kwargs: dict[str, Any] | None = None,
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
            buffer_size=replay_size,
            batch_size=batch_size,
            n_updates_per_iter=n_updates_per_iter,
            n_episodes_per_iter=n_episodes_per_iter,
            n_warm_up_episodes=n_warm_up_episodes,
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
        self.replay_size = self.buffer_size
        self.last_few = check_int("last_few", last_few)
        if self.last_few > self.replay_size:
            # Construction happens outside rl-zoo3's tuning try-block: clamp rather than fail (as ARS does)
            warnings.warn(f"last_few={last_few} > replay_size={replay_size}: using last_few={replay_size}", stacklevel=2)
            self.last_few = self.replay_size
        self.return_scale = check_float("return_scale", return_scale)
        self.horizon_scale = check_float("horizon_scale", horizon_scale)
        if not isinstance(command_episodes, str):
            # rl-zoo3's -params evaluates its values: a bare command_episodes:all arrives as the builtin all()
            raise TypeError(
                f"command_episodes must be a string, one of {COMMAND_EPISODES}, got {command_episodes!r} "
                """(with rl-zoo3's -params, quote it: command_episodes:"'all'")"""
            )
        self.command_episodes = check_choice("command_episodes", command_episodes, COMMAND_EPISODES)
        self.return_bonus = check_float("return_bonus", return_bonus, low_inclusive=True)
        self.cap_desired_return = bool(cap_desired_return)
        self.eval_return_cap = check_bool("eval_return_cap", eval_return_cap)
        # Not written into policy_kwargs: the saved policy_kwargs stay the user's, so that load(path, policy_kwargs=...)
        # accepts the ones the model was created with (SB3 compares them); _policy_kwargs() passes action_bins on
        self.action_bins = check_action_bins(action_bins)
        self.store_truncated = check_bool("store_truncated", store_truncated)
        self.recent_episodes = check_int("recent_episodes", recent_episodes, minimum=0)
        self.recent_command = bool(recent_command)
        if self.recent_command and self.recent_episodes == 0:
            raise ValueError("recent_command=True needs recent_episodes > 0 (the window the command is taken from)")
        # Most recent exploratory command statistics (section 2.3.4); saved with the model
        self.exploratory_return_mean = 0.0
        self.exploratory_return_std = 0.0
        self.exploratory_horizon = 1.0
        self.exploratory_return_cap = np.inf
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # Checked again here: load(path, store_truncated=...) sets attributes without __init__
        self.store_truncated = check_bool("store_truncated", self.store_truncated)
        self.buffer_size = self.replay_size
        if isinstance(self.action_space, spaces.Box) and "action_bins" in self.policy_kwargs:
            # policy_kwargs["action_bins"] takes precedence (the policy checks its value)
            self.action_bins = self.policy_kwargs["action_bins"]
        super()._setup_model()
        self._set_eval_command()

    def _policy_kwargs(self) -> dict[str, Any]:
        policy_kwargs = dict(self.policy_kwargs, condition=ReturnHorizon(self.return_scale, self.horizon_scale))
        if isinstance(self.action_space, spaces.Box):  # Discrete actions ignore action_bins
            policy_kwargs.setdefault("action_bins", self.action_bins)
        return policy_kwargs

    def _make_replay_buffer(self, initial_capacity: int | None = None) -> EpisodicReplayBuffer:
        observation_space = base_observation_space(self.observation_space)
        return EpisodicReplayBuffer(
            self.replay_size,
            observation_space,
            self.action_space,
            initial_capacity,
            n_recent=self.recent_episodes,
            **self.replay_buffer_kwargs,
        )

    # ----------------------------------------------------------------------------------------------------------
    # Commands
    def _update_command_statistics(self) -> None:
        """Section 2.3.4: mean/std of the returns and mean length of the ``last_few`` best episodes."""
        buffer = self.replay_buffer
        if buffer is None or buffer.n_episodes == 0:
            return
        pool = buffer.recent_mask() if self.recent_command else np.ones(buffer.n_episodes, dtype=bool)
        terminated = pool & ~buffer.ep_truncated[: buffer.n_episodes]
        use_terminated = self.command_episodes != "all" and terminated.any()
        best = buffer.top_episodes(self.last_few, among=pool)
        if use_terminated and self.command_episodes == "terminated":
            best = buffer.top_episodes(self.last_few, among=terminated)
        returns = buffer.ep_return[best]
        self.exploratory_return_mean = float(returns.mean())
        self.exploratory_return_std = float(returns.std())
        if use_terminated and self.command_episodes == "terminated_horizon":
            best = buffer.top_episodes(self.last_few, among=terminated)
        self.exploratory_horizon = float(buffer.ep_length[best].mean())
        self.exploratory_return_cap = float(buffer.ep_return[: buffer.n_episodes].max())

    def _sample_exploratory_commands(self, n: int) -> np.ndarray:
        """``d_h = mean length``, ``d_r ~ U[M, M + S]`` of the ``last_few`` best episodes (section 2.3.4), the upper
        end raised by ``return_bonus``."""
        low = self.exploratory_return_mean
        desired_returns = self._rng.uniform(low, low + self.exploratory_return_std + self.return_bonus, size=n)
        if self.cap_desired_return:
            desired_returns = np.minimum(desired_returns, self.exploratory_return_cap)
        desired_horizons = np.full(n, self.exploratory_horizon)
        return np.stack([desired_returns, desired_horizons], axis=1)

    def _training_return_cap(self) -> float:
        # Algorithm 2 caps d_r at evaluation only; cap_desired_return also caps it while collecting
        return self.exploratory_return_cap if self.cap_desired_return else np.inf

    def _set_eval_command(self) -> None:
        """Section 2.3.6: evaluate with ``d_r = M`` and the most recent exploratory horizon; cap ``d_r`` at the best
        return in the replay."""
        self.policy.eval_command.copy_(th.tensor([self.exploratory_return_mean, self.exploratory_horizon], dtype=th.float32))
        self.policy.max_return.fill_(self.exploratory_return_cap if self.eval_return_cap else np.inf)

    def _update_eval_command(self) -> None:
        self._update_command_statistics()
        self._set_eval_command()

    def _record_command_logs(self) -> None:
        self.logger.record("rollout/desired_return", self.exploratory_return_mean)
        self.logger.record("rollout/desired_horizon", self.exploratory_horizon)

    def learn(
        self: SelfUDRL,
        total_timesteps: int = DEFAULT_TOTAL_TIMESTEPS,
        callback: MaybeCallback = None,
        log_interval: int | None = 1,
        tb_log_name: str = "UDRL",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfUDRL:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
