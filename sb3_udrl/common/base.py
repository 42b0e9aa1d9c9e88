"""What the reward-conditioned algorithms share: episode collection with per-env commands, the episodic
replay, one weighted supervised ``train()``, closed-loop evaluation, saving and the SB3 ``learn()`` contract.

:class:`CommandAlgorithm` holds the set-up, the training step and the loop; the rest of the core is mixed in from
modules of their own: :mod:`~sb3_udrl.common.collection` (``collect_rollouts``), :mod:`~sb3_udrl.common.observations`
(VecNormalize and image layout, checks of what the env returns), :mod:`~sb3_udrl.common.evaluation` (``evaluate``)
and :mod:`~sb3_udrl.common.save_load` (``save``, ``load`` and the replay's); :mod:`~sb3_udrl.common.learner` runs the
updates in a second process (``overlap_training``).

The algorithms differ in four swappable pieces:

1. the condition (:mod:`sb3_udrl.common.conditions`: layout, relabelling, closed-loop update), and the targets asked
   for while collecting and evaluating (:meth:`CommandAlgorithm._sample_exploratory_commands`,
   :meth:`CommandAlgorithm._update_eval_command`);
2. which data the replay keeps (:mod:`sb3_udrl.common.buffers`: best episodes, recent steps, or both);
3. how samples are weighted (``weighting``: 1, ``min(exp(x / beta), max_weight)`` or ``1[x > 0]`` of a normalised ``x``);
4. per-iteration work before the updates (:meth:`CommandAlgorithm._prepare_training`: RCP-A fits its value network
   there), with every network and optimiser listed by ``_get_torch_save_params`` (saved, rolled back on divergence
   and carried by the learner process alike)."""

from __future__ import annotations

import copy
import sys
import time
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import recursive_getattr
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import safe_mean
from stable_baselines3.common.vec_env import VecEnv

from sb3_udrl.common.buffers import EpisodeStaging, EpisodicReplayBuffer, check_replay_fits, vec_env_time_limit
from sb3_udrl.common.collection import CollectionMixin
from sb3_udrl.common.evaluation import EvaluationMixin
from sb3_udrl.common.exploration import ActionHolds, check_action_holds, named_holds
from sb3_udrl.common.learner import Episode, LearnerProcess, TrainingResult, TrainingState
from sb3_udrl.common.observations import ObservationMixin
from sb3_udrl.common.policies import CommandPolicy
from sb3_udrl.common.save_load import SaveLoadMixin
from sb3_udrl.common.symmetry import Mirror
from sb3_udrl.common.utils import check_choice, check_float, check_int
from sb3_udrl.common.wrappers import base_observation_space

SelfCommandAlgorithm = TypeVar("SelfCommandAlgorithm", bound="CommandAlgorithm")

#: Budget of ``learn()`` when none is given (SB3 requires one; we keep its signature and add this default).
DEFAULT_TOTAL_TIMESTEPS = 1_000_000

#: Largest ``batch_size`` accepted: a batch is built in memory at once (observations and activations of every sample)
MAX_BATCH_SIZE = 2**20

#: Rewards or returns-to-go (in absolute value) from which a divergence is put down to the reward scale: far beyond
#: any usual env's, and where float32 losses (squared value errors, network inputs) overflow or blow up
LARGE_RETURN = 1e6

#: How training samples are weighted: ``"none"`` (UDRL: plain likelihood), ``"exp"`` (RCP: exponential weights) or
#: ``"binary"`` (CRR's filter: the above-average samples only)
WEIGHTINGS = ("none", "exp", "binary")


class CommandAlgorithm(CollectionMixin, ObservationMixin, EvaluationMixin, SaveLoadMixin, BaseAlgorithm):
    """
    Base class of the reward-conditioned algorithms (see :class:`~sb3_udrl.UDRL`).

    :param policy: policy class or alias (``"MlpPolicy"``, ``"CnnPolicy"``)
    :param env: environment (or its gymnasium id)
    :param learning_rate: learning rate, constant or schedule of the remaining progress
    :param buffer_size: episodes kept by the replay
    :param batch_size: mini-batch size of each gradient step
    :param n_updates_per_iter: gradient steps per iteration
    :param n_episodes_per_iter: episodes collected per iteration
    :param n_steps_per_iter: if > 0, an iteration collects this many environment steps instead of
        ``n_episodes_per_iter`` episodes (AWR's iterations; unfinished episodes carry over either way)
    :param n_warm_up_episodes: random-action episodes that fill the replay first
    :param weighting: ``"none"``: every sample counts once; ``"exp"``: each sample's log-likelihood is weighted by
        ``min(exp(x / beta), max_weight)``, ``x`` its weighting variable (return-to-go, or the advantage of RCP-A)
        normalised over the replay (RCP paper, section 4; AWR); ``"binary"``: weight ``1[x > 0]`` of the same normalised
        ``x``, CRR's binary filter (Wang et al. 2020, "Critic Regularized Regression"): a sample below the replay's mean
        counts for nothing, so where the replay holds only such samples the policy does not imitate them
    :param beta: temperature of the exponential weights, in standard deviations of ``x``
    :param max_weight: cap of the exponential weights (AWR: 20)
    :param ent_coef: entropy coefficient of the policy loss, as PPO's: each update maximises
        ``E[w log pi(a_t | s_t, c_t)] + ent_coef * E[H(pi(. | s_t, c_t))]``. 0: the papers' loss
    :param replay_buffer_kwargs: keyword arguments of the replay besides those the algorithm sets from its own
        arguments (``_replay_arguments``), e.g. ``dict(frame_stack=4)``
    :param action_holds: temporally-extended exploration while collecting: actions held for several steps
        (:class:`~sb3_udrl.common.exploration.ActionHolds`; env-specific ones in :mod:`sb3_udrl.envs`). ``"ez_greedy"``:
        ez-greedy's random holds on Discrete actions, none on Box actions; ``"ez_greedy_decay"``: the same, fading out
        over the first half of the budget (:func:`~sb3_udrl.common.exploration.named_holds`). None: every action comes
        from ``B(s, c)`` (the papers)
    :param mirror: a mirror symmetry of the env (:class:`~sb3_udrl.common.symmetry.Mirror`, e.g.
        :func:`sb3_udrl.envs.lunar_lander.lunar_lander_mirror`): each training sample is reflected with probability
        1/2. None: no augmentation (the papers)
    :param overlap_training: run each iteration's gradient steps in a learner process (a second core) while the
        episodes of the iteration are collected with the weights of the previous iteration (the acting policy lags
        the learner by one iteration). As with ``SubprocVecEnv``, scripts need the ``if __name__ == "__main__":``
        guard (the process is spawned). Both processes map one replay in shared memory (``/dev/shm`` where it has
        room, else the temp directory). False: the paper's order, train then collect
    :param policy_kwargs: keyword arguments of the policy
    :param stats_window_size: episodes averaged by the rollout logs
    :param tensorboard_log: TensorBoard log folder (None: no TensorBoard)
    :param seed: random seed
    :param verbose: 0 silent, 1 info, 2 debug
    :param device: torch device
    :param _init_setup_model: whether to build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {}
    #: Replay arguments the algorithm sets itself, each with the algorithm's argument that sets it (None: internal)
    _replay_arguments: ClassVar[dict[str, str | None]] = {"buffer_size": "buffer_size", "initial_capacity": None}
    # Files saved before ent_coef existed trained without an entropy term
    _older_file_defaults: ClassVar[dict[str, Any]] = {"ent_coef": 0.0}
    policy: CommandPolicy
    replay_buffer: EpisodicReplayBuffer | None

    def __init__(
        self,
        policy: str | type[CommandPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule,
        buffer_size: int,
        batch_size: int,
        n_updates_per_iter: int,
        n_episodes_per_iter: int,
        n_warm_up_episodes: int,
        n_steps_per_iter: int = 0,
        weighting: str = "none",
        beta: float = 1.0,
        max_weight: float = 20.0,
        ent_coef: float = 0.0,
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
    ) -> None:
        if isinstance(policy, str):
            # Resolved here so that RewardFeedback's Dict observations work with "MlpPolicy"/"CnnPolicy"
            policy = self._get_policy_from_name(policy)
        if isinstance(env, (VecEnv, gym.Env)):
            self._check_action_space(env.action_space)
        super().__init__(
            policy=policy,
            env=env,
            learning_rate=learning_rate,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
        )
        if env is not None:
            self._check_action_space(self.action_space)
        self.buffer_size = check_int("buffer_size", buffer_size)
        self.replay_buffer_kwargs = {} if replay_buffer_kwargs is None else dict(replay_buffer_kwargs)
        taken = sorted(set(self._replay_arguments) & set(self.replay_buffer_kwargs))
        if taken:
            own = sorted({name for key in taken if (name := self._replay_arguments[key]) is not None})
            raise ValueError(
                f"replay_buffer_kwargs cannot set {taken}: {type(self).__name__} sets them itself"
                + (f" (use {', '.join(own)})" if own else "")
            )
        self.batch_size = check_int("batch_size", batch_size)
        if self.batch_size > MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be <= {MAX_BATCH_SIZE} (one batch is built in memory), got {batch_size}")
        self.n_updates_per_iter = check_int("n_updates_per_iter", n_updates_per_iter, minimum=0)
        self.n_episodes_per_iter = check_int("n_episodes_per_iter", n_episodes_per_iter)
        self.n_warm_up_episodes = check_int("n_warm_up_episodes", n_warm_up_episodes)
        self.n_steps_per_iter = check_int("n_steps_per_iter", n_steps_per_iter, minimum=0)
        self.weighting = check_choice("weighting", weighting, WEIGHTINGS)
        self.beta = check_float("beta", beta)
        self.max_weight = check_float("max_weight", max_weight)
        self.ent_coef = check_float("ent_coef", ent_coef, low_inclusive=True)
        if mirror is not None and not isinstance(mirror, Mirror):
            raise TypeError(f"mirror must be a Mirror or None, got {type(mirror).__name__} ({mirror!r})")
        self.action_holds = check_action_holds(action_holds)
        self.mirror = mirror
        if env is not None:  # a mirror or holds that do not fit the env fail here
            self._check_env_features()
        self.overlap_training = bool(overlap_training)
        self.replay_buffer = None
        self._staging: EpisodeStaging | None = None
        self._rng = np.random.default_rng(seed)
        self._train_rng = np.random.default_rng(None if seed is None else seed + 1)
        self._learner: LearnerProcess | None = None
        self._deferred_episodes: list[Episode] | None = None
        #: store time-limit-truncated episodes in the replay (subclasses expose it as a hyperparameter)
        self.store_truncated = True
        #: saved with the model, so that load() can tell which algorithm wrote a file
        self._algorithm = self._algorithm_name()

    # ----------------------------------------------------------------------------------------------------------
    # Set-up
    @classmethod
    def _check_action_space(cls, action_space: spaces.Space) -> None:
        """``ValueError`` naming the space unless it is a Box or a Discrete space starting at 0 (the policies' actions
        are category indices 0..n-1, as SB3's)."""
        if not isinstance(action_space, (spaces.Discrete, spaces.Box)):
            raise ValueError(f"{cls.__name__} supports Discrete and Box action spaces, got {action_space}")
        if isinstance(action_space, spaces.Discrete) and int(action_space.start) != 0:
            raise ValueError(
                f"{cls.__name__} supports Discrete action spaces starting at 0 only, got {action_space}: wrap the env "
                f"so that it takes actions 0..{action_space.n - 1} (e.g. a gymnasium.ActionWrapper adding "
                f"{int(action_space.start)} to the action, with action_space Discrete({action_space.n}))"
            )

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)
        self._train_rng = np.random.default_rng(None if self.seed is None else self.seed + 1)
        policy_kwargs = self._policy_kwargs()
        overridden = sorted(key for key in self.policy_kwargs if policy_kwargs[key] is not self.policy_kwargs[key])
        if overridden:
            raise ValueError(
                f"policy_kwargs {overridden} are set by {type(self).__name__} from its own arguments (e.g. return_scale, "
                "value_learning_rate): pass those arguments instead"
            )
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **policy_kwargs
        )
        self.policy = self.policy.to(self.device)
        # Storage is allocated lazily (enjoy/predict-only loads never need it)
        self.replay_buffer = None
        self._staging = None
        self._command: np.ndarray | None = None
        self._check_env_features()

    def _check_env_features(self) -> None:
        """Check ``mirror`` and ``action_holds`` against the spaces (``ValueError`` naming the mismatch), with
        a named ``action_holds`` made into the action space's holds (:func:`~sb3_udrl.common.exploration.named_holds`).
        """
        observation_space = base_observation_space(self.observation_space)
        if isinstance(self.action_holds, str):
            self.action_holds = named_holds(self.action_holds, self.action_space)
        if self.mirror is not None:
            self.mirror.check(observation_space, self.action_space)
        if self.action_holds is not None:
            self.action_holds.check(observation_space, self.action_space)

    def _policy_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the policy: ``policy_kwargs`` plus what the algorithm decides."""
        return dict(self.policy_kwargs)

    @abstractmethod
    def _make_replay_buffer(self, initial_capacity: int | None = None) -> EpisodicReplayBuffer:
        """The replay, built at the first ``learn()`` (``initial_capacity`` steps allocated at first)."""

    @classmethod
    def _algorithm_name(cls) -> str:
        """The sb3_udrl algorithm a class is (a user's subclass of RCPA is an RCPA), saved with the model."""
        below = cls.__mro__[: cls.__mro__.index(CommandAlgorithm)]  # the algorithm, its bases, the user's subclasses
        return next(c.__name__ for c in below if c.__module__.startswith("sb3_udrl."))

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        # Every network and optimiser: saved, rolled back on divergence and carried by the learner process
        return ["policy", "policy.optimizer"], []

    def _torch_state(self) -> dict[str, dict[str, Any]]:
        """State dicts of everything ``_get_torch_save_params`` lists (references, not copies)."""
        return {name: recursive_getattr(self, name).state_dict() for name in self._get_torch_save_params()[0]}

    def _load_torch_state(self, state: dict[str, dict[str, Any]]) -> None:
        """Load what :meth:`_torch_state` returned."""
        for name, state_dict in state.items():
            recursive_getattr(self, name).load_state_dict(state_dict)

    # ----------------------------------------------------------------------------------------------------------
    # What the subclasses define
    @abstractmethod
    def _sample_exploratory_commands(self, n: int) -> np.ndarray:
        """Commands ``(n, command_dim)`` for ``n`` new training episodes."""

    def _update_command(self, command: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """Command of the next step given the rewards just received (closed loop, during training): the condition's
        update, with the desired return capped at :meth:`_training_return_cap`."""
        return self.policy.condition.update(command, rewards, self._training_return_cap())

    def _training_return_cap(self) -> float:
        """Cap on the desired return while collecting (none by default)."""
        return np.inf

    @abstractmethod
    def _update_eval_command(self) -> None:
        """Refresh the policy's evaluation command from the replay (after each iteration's collection)."""

    def _prepare_training(self, batch_size: int) -> np.ndarray | None:
        """
        Work done once per iteration before the policy updates (inside the divergence rollback), e.g. fitting a value
        network. Returns per-row values over the replay that the condition relabels with (None: none needed).
        """
        return None

    def _row_weights(self, row_values: np.ndarray | None) -> np.ndarray | None:
        """
        Weight of every replay row (None with ``weighting="none"``): ``min(exp(x_norm / beta), max_weight)``, or
        ``1[x_norm > 0]`` with ``weighting="binary"``, ``x`` the per-row values (advantage, discounted return-to-go) or
        else the return-to-go, normalised (mean/std) over the kept rows (AWR normalises over its whole buffer; RCP
        paper, section 4).
        """
        if self.weighting == "none":
            return None
        buffer = self.replay_buffer
        assert buffer is not None
        x = buffer.returns_to_go if row_values is None else row_values
        rows, mask = buffer.padded_rows()
        kept = x[rows[mask]].astype(np.float64)
        weights = np.zeros(len(x), dtype=np.float32)
        normalized = (x[rows[mask]] - kept.mean()) / (kept.std() + 1e-5)
        if self.weighting == "binary":
            weights[rows[mask]] = normalized > 0
        else:
            weights[rows[mask]] = np.minimum(np.exp(normalized / self.beta), self.max_weight)
        return weights

    def train(self, gradient_steps: int, batch_size: int) -> None:
        """
        ``gradient_steps`` updates on mini-batches of ``batch_size`` hindsight-relabelled steps (UDRL paper, section
        2.3.3; RCP paper, Algorithm 1): maximise ``E[w log pi(a_t | s_t, c_t)]``, ``c_t`` the command the step
        achieved, ``w`` its weight (1 without weighting), plus ``ent_coef`` times the policy's entropy.

        :param gradient_steps: number of updates
        :param batch_size: samples per update
        """
        assert self.replay_buffer is not None
        policy = self.policy
        policy.set_training_mode(True)
        self._update_learning_rate(policy.optimizer)
        losses, mean_weights, entropies = [], [], []
        with self._restore_if_diverged():
            row_values = self._prepare_training(batch_size)
            row_weights = self._row_weights(row_values)
            for _ in range(gradient_steps):
                batch = self.replay_buffer.sample(batch_size, self._train_rng)
                observations, actions = batch.observations, batch.actions
                if self.mirror is not None:  # a mirrored step is as likely and earns the same: same command, weight
                    mirrored = self._train_rng.random(len(actions)) < 0.5
                    observations, actions = self.mirror.apply(observations, actions, mirrored)
                obs = th.as_tensor(self._normalize_obs(observations), device=self.device)
                command = th.as_tensor(policy.condition.relabel(batch, row_values), device=self.device)  # (batch, dim)
                actions = th.as_tensor(actions, device=self.device)
                # Cross-entropy (Discrete, binned Box) / Gaussian log-likelihood (Box) of the action taken
                if self.ent_coef > 0.0:
                    log_prob, entropy = policy.evaluate_actions(obs, command, actions)  # (batch,) each
                else:
                    log_prob, entropy = policy.log_prob(obs, command, actions), None
                if row_weights is None:
                    loss = -log_prob.mean()
                else:
                    weights = th.as_tensor(row_weights[batch.rows], device=self.device)
                    loss = -(weights * log_prob).mean()
                    mean_weights.append(weights.mean())
                if entropy is not None:
                    # Unweighted: where the data are only low-weight steps, the bonus keeps other actions tried
                    loss = loss - self.ent_coef * entropy.mean()
                    entropies.append(entropy.detach().mean())
                self._check_finite_loss(loss)
                policy.optimizer.zero_grad()
                loss.backward()
                policy.optimizer.step()
                losses.append(loss.detach())
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if losses:
            self.logger.record("train/loss", th.stack(losses).mean().item())
        if mean_weights:
            self.logger.record("train/mean_weight", th.stack(mean_weights).mean().item())
        if entropies:
            self.logger.record("train/entropy", th.stack(entropies).mean().item())

    @staticmethod
    def _check_finite_loss(loss: th.Tensor) -> None:
        """Raise before a non-finite loss reaches the weights."""
        if not th.isfinite(loss):
            raise ValueError(f"non-finite training loss ({loss.item()})")

    @contextmanager
    def _restore_if_diverged(self) -> Iterator[None]:
        """
        Run a block of updates; if they make a loss or the weights non-finite, put every network and optimiser
        (``_get_torch_save_params``) back as they were before the block and raise ``ValueError`` (rl-zoo3 prunes a
        trial on it).
        """
        saved_state = copy.deepcopy(self._torch_state())
        try:
            yield
            if not all(th.isfinite(param).all() for param in self.policy.parameters()):
                raise ValueError("non-finite weights after the update")
        except ValueError as error:
            self._load_torch_state(saved_state)
            advice = self._reward_scale_advice() or "lower learning_rate (or the command scales)"
            raise ValueError(
                f"Training diverged ({str(error).splitlines()[0]}): {advice}. "
                "The weights are restored to what they were before this iteration's updates."
            ) from error

    def _reward_scale_advice(self) -> str | None:
        """Where training diverged on a replay whose rewards or returns reach :data:`LARGE_RETURN`: advice naming the
        reward scale as the cause (None otherwise). Read on the error path only."""
        buffer = self.replay_buffer
        if buffer is None or buffer.n_episodes == 0:
            return None
        rows, mask = buffer.padded_rows()
        kept = rows[mask]
        largest_reward = float(np.abs(buffer.rewards[kept]).max())
        largest_return = float(np.abs(buffer.returns_to_go[kept]).max())
        if max(largest_reward, largest_return) < LARGE_RETURN:
            return None
        factor = 10.0 ** -round(float(np.log10(max(largest_reward, 1.0))))
        return (
            f"the env's rewards reach {largest_reward:.3g} (returns-to-go {largest_return:.3g}), a scale at which the "
            "losses overflow or the updates blow up: scale the rewards down with a reward wrapper (e.g. "
            f"gymnasium.wrappers.TransformReward(env, lambda r: r * {factor:g})); VecNormalize's norm_reward does not "
            "help, the replay keeps the original rewards. If it still diverges, lower learning_rate"
        )

    # ----------------------------------------------------------------------------------------------------------
    # Set-up of learn(): the replay, the episodes in progress, their commands (collection: sb3_udrl.common.collection)
    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        total_timesteps = check_int("total_timesteps", total_timesteps, minimum=0)
        if self.env is None:
            raise ValueError("This model has no environment: pass env= to load() or call set_env() before learn()")
        self._check_vec_normalize()
        if self._staging is None:
            # Episodes in progress are not saved: start fresh ones
            self._last_obs = None
        if self.replay_buffer is None:
            self.replay_buffer = self._make_replay_buffer()
        if self.overlap_training:
            self.replay_buffer.share()  # mapped by the learner process (a replay loaded from a file is copied once)
        check_replay_fits(self.replay_buffer, vec_env_time_limit(self.env))
        # SB3 resets the env in these cases: the episodes in progress are gone, and so must be their staged steps
        env_reset = reset_num_timesteps or self._last_obs is None
        total_timesteps, callback = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if env_reset:
            self._check_finite_obs(self._last_obs if self._vec_normalize_env is None else self._last_original_obs)
        if env_reset or self._staging is None or self._staging.n_envs != self.n_envs or self._command is None:
            buffer = self.replay_buffer
            self._staging = EpisodeStaging(
                self.n_envs, buffer.obs_shape, buffer.observations.dtype, buffer.action_shape, buffer.actions.dtype
            )
            self._command = self._sample_exploratory_commands(self.n_envs)
            if self.action_holds is not None:
                self.action_holds.reset()
        return total_timesteps, callback

    # ----------------------------------------------------------------------------------------------------------
    # Training loop (UDRL paper, Algorithm 1)
    def learn(
        self: SelfCommandAlgorithm,
        total_timesteps: int = DEFAULT_TOTAL_TIMESTEPS,
        callback: MaybeCallback = None,
        log_interval: int | None = 1,
        tb_log_name: str = "run",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfCommandAlgorithm:
        """
        Train for ``total_timesteps`` environment steps: warm-up with random episodes, then repeat
        (train, sample exploratory commands, collect ``n_episodes_per_iter`` episodes).

        :param total_timesteps: environment steps to train for
        :param callback: callback(s) called at every environment step
        :param log_interval: iterations between two log dumps (None: never)
        :param tb_log_name: name of the TensorBoard run
        :param reset_num_timesteps: whether to restart the step counter (False continues the previous run)
        :param progress_bar: show a progress bar (tqdm and rich)
        :return: the trained model
        """
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        assert self.env is not None and self.replay_buffer is not None
        iteration = 0
        torch_threads = th.get_num_threads()
        if self.overlap_training:
            # The learner process trains with one thread; acting on a batch of n_envs observations gains nothing from
            # more, and they would take the learner's core (3M LunarLander steps: 8.8 -> 6.0 min on 2 cores, README)
            th.set_num_threads(1)
        try:
            while self.num_timesteps < total_timesteps:
                warm_up = self.replay_buffer.n_episodes == 0
                n_episodes = self.n_warm_up_episodes if warm_up else self.n_episodes_per_iter
                n_steps = 0 if warm_up else self.n_steps_per_iter
                if warm_up or self.n_updates_per_iter == 0:
                    keep_going = self.collect_rollouts(self.env, callback, n_episodes, warm_up, n_steps)
                elif self.overlap_training:
                    keep_going = self._train_while_collecting(callback, n_episodes, n_steps)
                else:
                    self.train(gradient_steps=self.n_updates_per_iter, batch_size=self.batch_size)
                    keep_going = self.collect_rollouts(self.env, callback, n_episodes, False, n_steps)
                if not keep_going:
                    break
                self._update_eval_command()
                self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
                iteration += 1
                if log_interval is not None and iteration % log_interval == 0:
                    self.dump_logs()
        except BaseException:
            # An error or Ctrl-C: the iteration in flight is dropped (the model keeps the previous weights)
            if self._learner is not None:
                self._learner.stop()
            raise
        finally:
            th.set_num_threads(torch_threads)
            if self._learner is not None:
                self._learner.close()
                self._learner = None
        callback.on_training_end()
        return self

    def dump_logs(self) -> None:
        """Write the logs of the last iteration (keys grouped like SB3's: ``rollout/``, ``train/``, ``time/``)."""
        assert self.ep_info_buffer is not None and self.replay_buffer is not None
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed)
        if len(self.ep_info_buffer) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep_info["r"] for ep_info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep_info["l"] for ep_info in self.ep_info_buffer]))
        self._record_command_logs()
        n = self.replay_buffer.n_episodes
        if n > 0:
            self.logger.record("rollout/replay_best_return", float(self.replay_buffer.ep_return[:n].max()))
            self.logger.record("rollout/replay_mean_return", float(self.replay_buffer.ep_return[:n].mean()))
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    def _record_command_logs(self) -> None:
        """Log the command; subclasses name its components."""

    # ----------------------------------------------------------------------------------------------------------
    # overlap_training: the updates run in a learner process (sb3_udrl.common.learner), which reads and writes the
    # algorithm through _training_state, _train_from_state and _apply_training_result only
    def _train_while_collecting(self, callback: BaseCallback, n_episodes: int, n_steps: int = 0) -> bool:
        """
        One iteration with ``overlap_training``: a learner process (:class:`~sb3_udrl.common.learner.LearnerProcess`)
        runs ``train()`` on its copy of the model while this process collects episodes with ``self.policy``. The
        episodes are stored once collection ends, and sent to the learner with the next order; the new weights and
        optimiser state then replace ``self.policy``'s.
        """
        assert self.env is not None and self.replay_buffer is not None
        if self._learner is None:
            self._learner = LearnerProcess(self)  # starts from the current weights; maps the replay
        self._learner.start_training(self)
        deferred: list[Episode] = []
        self._deferred_episodes = deferred
        try:
            try:
                keep_going = self.collect_rollouts(self.env, callback, n_episodes, False, n_steps)
            except BaseException:
                self._learner.stop()  # an error or Ctrl-C drops the iteration in flight
                raise
            self._learner.finish_training(self)
        finally:
            # Stored once the learner no longer reads the replay, even if collection or training failed (nothing
            # collected is lost)
            self._deferred_episodes = None
            for episode in deferred:
                if self._stores(episode.truncated):
                    self.replay_buffer.add_episode(*episode)
        return keep_going

    def _training_state(self) -> TrainingState:
        """What the learner process's copy needs (besides the episodes stored since the last order) to run this
        iteration's updates exactly as :meth:`train` would here. Main process, once per order.

        :return: the schedule's progress, the VecNormalize statistics, the training RNG's state, the updates' size
        """
        return TrainingState(
            self._current_progress_remaining,
            self._vec_normalize_env,  # VecNormalize pickles without its envs: only the statistics travel
            self._train_rng.bit_generator.state,
            self.n_updates_per_iter,
            self.batch_size,
        )

    def _train_from_state(self, state: TrainingState) -> TrainingResult:
        """Run one iteration's updates from the main process's ``state`` and return what they changed (learner process).

        :param state: what :meth:`_training_state` returned in the main process
        :return: every network's and optimiser's state, the training RNG's, the update count and this iteration's logs
        """
        self._current_progress_remaining = state.progress_remaining
        self._vec_normalize_env = state.normalizer
        self._train_rng.bit_generator.state = state.rng_state
        self.logger.name_to_value.clear()
        self.logger.name_to_excluded.clear()
        self.train(gradient_steps=state.gradient_steps, batch_size=state.batch_size)
        values, excluded = dict(self.logger.name_to_value), dict(self.logger.name_to_excluded)
        return TrainingResult(self._torch_state(), self._train_rng.bit_generator.state, self._n_updates, values, excluded)

    def _apply_training_result(self, result: TrainingResult) -> None:
        """Take the learner's updates (main process); the evaluation command stays this process's (set from the replay
        after each collection).

        :param result: what :meth:`_train_from_state` returned in the learner process
        """
        own_command = {name: getattr(self.policy, name).clone() for name in ("eval_command", "max_return")}
        self._load_torch_state(result.torch_state)
        for name, value in own_command.items():
            getattr(self.policy, name).copy_(value)
        self._train_rng.bit_generator.state = result.rng_state
        self._n_updates = result.n_updates
        for key, value in result.values.items():
            self.logger.record(key, value, exclude=result.excluded.get(key))
