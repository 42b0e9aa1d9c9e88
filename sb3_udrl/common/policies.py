"""Command-conditioned policies: the behaviour function B(s, c) of UDRL and pi(a | s, Z) of RCP."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
    MultiCategoricalDistribution,
)
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, NatureCNN, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from sb3_udrl.common.conditions import Condition, ReturnHorizon
from sb3_udrl.common.utils import check_action_bins
from sb3_udrl.common.wrappers import OBSERVATION_KEY, PREV_REWARD_KEY, base_observation_space, is_reward_feedback_space

#: How the command enters the network (``conditioning``)
CONDITIONINGS = ("multiplicative", "every_layer", "concat")


class CommandPolicy(BasePolicy):
    """
    Behaviour function ``B(s, c)`` with the architecture of the UDRL paper (section 3.2): the scaled command
    goes through a fully connected layer with a sigmoid and multiplies the observation embedding
    element-wise; the product feeds an MLP whose output parametrises the action distribution.

    Observations may come wrapped by :class:`~sb3_udrl.common.wrappers.RewardFeedback`; the network only
    sees the inner observation, and ``predict()`` uses the reward to update the command in closed loop.

    :param observation_space: observation space
    :param action_space: action space (Discrete or Box)
    :param lr_schedule: learning rate schedule (the optimiser starts at ``lr_schedule(1)``)
    :param net_arch: layer sizes: ``net_arch[0]`` is the width of the observation and command embeddings,
        the others are the hidden layers after their product
    :param activation_fn: activation of the hidden layers
    :param condition: what the policy is conditioned on: the command's components, their input scales and their
        closed-loop update in ``predict()`` (default: UDRL's ``(desired_return, desired_horizon)``)
    :param conditioning: how the command enters: ``"multiplicative"`` (the UDRL paper's sigmoid gate on the observation
        embedding), ``"every_layer"`` (such a gate on the embedding and on every hidden layer: the RCP architecture,
        whose command multiplies every layer) or ``"concat"`` (command appended to the observation
        embedding)
    :param log_std_init: initial log standard deviation of the Gaussian for Box actions
    :param action_bins: Box actions only: instead of a Gaussian, a categorical distribution over this many evenly spaced
        values per action dimension (the space's bounds included), so that the greedy action is the most likely value
        rather than the mean of several modes (discretised policies: Tang & Agrawal 2020, arXiv 1901.10500). None: the
        Gaussian
    :param features_extractor_class: features extractor (``FlattenExtractor`` for MLP, ``NatureCNN`` for images)
    :param features_extractor_kwargs: keyword arguments of the features extractor
    :param normalize_images: whether to divide image observations by 255
    :param optimizer_class: optimiser class
    :param optimizer_kwargs: optimiser keyword arguments
    :param ortho_init: orthogonal initialisation of the features extractor with gain ``sqrt(2)``, as SB3's
        ``ActorCriticPolicy`` does (default of ``CnnPolicy``: PyTorch's default initialisation of ``NatureCNN`` gives
        features that barely depend on the image)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        condition: Condition | None = None,
        conditioning: str = "multiplicative",
        log_std_init: float = 0.0,
        action_bins: int | None = None,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        ortho_init: bool = False,
    ) -> None:
        if isinstance(observation_space, spaces.Dict) and not is_reward_feedback_space(observation_space):
            raise TypeError(
                "Command-conditioned policies support Box, Discrete, MultiDiscrete and MultiBinary observations, or a Dict "
                "made by RewardFeedback "
                f"with keys {OBSERVATION_KEY!r} and {PREV_REWARD_KEY!r}; got {observation_space}"
            )
        if not isinstance(action_space, (spaces.Discrete, spaces.Box)):
            raise TypeError(f"Command-conditioned policies support Discrete and Box action spaces, got {action_space}")
        if action_bins is not None:
            if not isinstance(action_space, spaces.Box):
                raise ValueError(f"action_bins applies to Box action spaces only, got {action_space}")
            action_bins = check_action_bins(action_bins)
            if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
                raise ValueError(
                    f"action_bins needs a Box action space with finite bounds, got {action_space}: "
                    "pass action_bins=None for a Gaussian"
                )
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        if net_arch is None:
            net_arch = [64, 128, 128]
        if len(net_arch) < 1:
            raise ValueError("net_arch needs at least one layer (the embedding width)")
        self.net_arch = list(net_arch)
        self.activation_fn = activation_fn
        self.condition = ReturnHorizon() if condition is None else condition
        if not isinstance(self.condition, Condition):
            raise TypeError(f"condition must be a Condition (sb3_udrl.common.conditions), got {condition!r}")
        self.conditioning = conditioning
        self.log_std_init = log_std_init
        self.action_bins = action_bins
        self.ortho_init = bool(ortho_init)
        # Command used by predict() when no state is given; set by the algorithm (saved in the state dict)
        self.register_buffer("eval_command", th.zeros(self.condition.dim))
        # Upper bound of the desired return during evaluation (paper, Algorithm 2: the max achievable return)
        self.register_buffer("max_return", th.tensor(float("inf")))
        self._build(lr_schedule)

    @property
    def base_observation_space(self) -> spaces.Space:
        return base_observation_space(self.observation_space)

    def make_features_extractor(self) -> BaseFeaturesExtractor:
        extractor = self.features_extractor_class(self.base_observation_space, **self.features_extractor_kwargs)
        if self.ortho_init:
            extractor.apply(partial(self.init_weights, gain=np.sqrt(2)))
        return extractor

    def _build(self, lr_schedule: Schedule) -> None:
        self.features_extractor = self.make_features_extractor()
        features_dim = self.features_extractor.features_dim
        embed_dim = self.net_arch[0]
        command_dim = self.condition.dim
        self.register_buffer("_command_scale", th.tensor(self.condition.scales, dtype=th.float32))
        # Observation embedding and command embedding (paper, section 3.2)
        self.obs_embedding = nn.Sequential(nn.Linear(features_dim, embed_dim), nn.Tanh())
        if self.conditioning == "concat":
            self.command_embedding = nn.Identity()
            trunk_in = embed_dim + command_dim
        else:
            self.command_embedding = nn.Sequential(nn.Linear(command_dim, embed_dim), nn.Sigmoid())
            trunk_in = embed_dim
        self.trunk = nn.Sequential(*create_mlp(trunk_in, -1, self.net_arch[1:], self.activation_fn))
        if self.conditioning == "every_layer":
            # One sigmoid gate of the command per hidden layer, beside the trunk's (Linear, activation) pairs
            self.command_gates = nn.ModuleList(
                nn.Sequential(nn.Linear(command_dim, width), nn.Sigmoid()) for width in self.net_arch[1:]
            )
        latent_dim = self.net_arch[-1] if len(self.net_arch) > 1 else trunk_in
        self.action_dist: Distribution
        if isinstance(self.action_space, spaces.Discrete):
            self.action_dist = CategoricalDistribution(int(self.action_space.n))
            self.action_net = self.action_dist.proba_distribution_net(latent_dim)
        elif self.action_bins is not None:
            n_dims = int(np.prod(self.action_space.shape))
            self.action_dist = MultiCategoricalDistribution([self.action_bins] * n_dims)
            self.action_net = self.action_dist.proba_distribution_net(latent_dim)
            # Value of bin k in dimension i: low_i + k * width_i, so bins 0 and action_bins - 1 are the bounds
            low = th.as_tensor(self.action_space.low.reshape(-1), dtype=th.float32)
            width = (th.as_tensor(self.action_space.high.reshape(-1), dtype=th.float32) - low) / (self.action_bins - 1)
            self.register_buffer("_bin_low", low)
            self.register_buffer("_bin_width", width)
        else:
            self.action_dist = DiagGaussianDistribution(int(np.prod(self.action_space.shape)))
            self.action_net, self.log_std = self.action_dist.proba_distribution_net(latent_dim, self.log_std_init)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self._optimizer_kwargs())

    def _optimizer_kwargs(self) -> dict[str, Any]:
        optimizer_kwargs = dict(self.optimizer_kwargs)
        if self.optimizer_class in (th.optim.Adam, th.optim.AdamW):
            # One fused kernel per step instead of one per parameter: ~15% faster updates on CPU at our sizes
            optimizer_kwargs.setdefault("fused", True)
        return optimizer_kwargs

    def extract_features(self, obs: PyTorchObs, features_extractor: BaseFeaturesExtractor | None = None) -> th.Tensor:
        if isinstance(obs, dict):
            obs = obs[OBSERVATION_KEY]
        extractor = self.features_extractor if features_extractor is None else features_extractor
        return extractor(preprocess_obs(obs, self.base_observation_space, normalize_images=self.normalize_images))

    def _action_net_output(self, obs: PyTorchObs, command: th.Tensor) -> th.Tensor:
        """Logits (Discrete) or Gaussian means (Box) of ``B(s, c)``: shape ``(batch, n_actions)``."""
        obs_embedding = self.obs_embedding(self.extract_features(obs))
        scaled_command = command * self._command_scale
        if self.conditioning == "concat":
            return self.action_net(self.trunk(th.cat([obs_embedding, scaled_command], dim=1)))
        # UDRL paper, section 3.2: sigmoid(W c) gates the observation embedding element-wise
        latent = obs_embedding * self.command_embedding(scaled_command)
        if self.conditioning == "multiplicative":
            return self.action_net(self.trunk(latent))
        # RCP's architecture: the command multiplies every layer, each hidden layer gated as the embedding is
        for i, gate in enumerate(self.command_gates):
            latent = self.trunk[2 * i + 1](self.trunk[2 * i](latent)) * gate(scaled_command)
        return self.action_net(latent)

    def distribution(self, obs: PyTorchObs, command: th.Tensor) -> Distribution:
        """
        Action distribution of ``B(s, c)``.

        :param obs: observations ``(batch, *obs_shape)`` (or a RewardFeedback dict)
        :param command: unscaled commands ``(batch, command_dim)``, e.g. ``(desired_return, desired_horizon)``
        """
        output = self._action_net_output(obs, command)
        if isinstance(self.action_dist, (CategoricalDistribution, MultiCategoricalDistribution)):
            return self.action_dist.proba_distribution(action_logits=output)
        return self.action_dist.proba_distribution(output, self.log_std)

    def log_prob(self, obs: PyTorchObs, command: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """
        Log-likelihood of ``actions`` under ``B(s, c)``: cross-entropy (Discrete, and Box with ``action_bins``, each
        action taken as its nearest bin) or Gaussian log-likelihood (Box).

        :param obs: observations ``(batch, *obs_shape)``
        :param command: unscaled commands ``(batch, command_dim)``
        :param actions: actions ``(batch,)`` (Discrete) or ``(batch, *action_shape)`` (Box)
        :return: ``(batch,)``
        """
        return self.distribution(obs, command).log_prob(self._distribution_actions(actions))

    def evaluate_actions(self, obs: PyTorchObs, command: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """
        :meth:`log_prob` of ``actions`` and the entropy of ``B(s, c)``, from one forward pass (as SB3's
        ``ActorCriticPolicy.evaluate_actions``, without values).

        :param obs: observations ``(batch, *obs_shape)``
        :param command: unscaled commands ``(batch, command_dim)``
        :param actions: actions ``(batch,)`` (Discrete) or ``(batch, *action_shape)`` (Box)
        :return: log-likelihoods and entropies, ``(batch,)`` each
        """
        distribution = self.distribution(obs, command)
        return distribution.log_prob(self._distribution_actions(actions)), distribution.entropy()

    def _distribution_actions(self, actions: th.Tensor) -> th.Tensor:
        """Actions as the distribution takes them: Box actions flattened, or their nearest bins with ``action_bins``."""
        if isinstance(self.action_space, spaces.Box):
            actions = actions.reshape(len(actions), -1)  # the distribution is over the flattened action
            if self.action_bins is not None:
                actions = ((actions - self._bin_low) / self._bin_width).round().clamp(0, self.action_bins - 1)
        return actions

    def forward(self, obs: PyTorchObs, command: th.Tensor, deterministic: bool = False) -> th.Tensor:
        """
        Actions ``a ~ B(s, c)`` (the mode when ``deterministic``).

        Sampled straight from the distribution's parameters: at acting batch sizes, building a
        ``torch.distributions`` object (with its argument checks) costs as much as the network itself.

        :param obs: observations
        :param command: unscaled commands ``(batch, command_dim)``
        :param deterministic: return the mode
        """
        return self._actions(self._action_net_output(obs, command), deterministic)

    def _actions(self, output: th.Tensor, deterministic: bool) -> th.Tensor:
        """Actions from the action net's ``output`` (see :meth:`_action_net_output`): the mode or a sample."""
        if isinstance(self.action_dist, CategoricalDistribution):
            if deterministic:
                return output.argmax(dim=1)
            return th.multinomial(th.softmax(output, dim=1), num_samples=1).squeeze(1)
        if self.action_bins is not None:
            logits = output.view(len(output), -1, self.action_bins)  # (batch, n_dims, action_bins)
            if not deterministic:  # Gumbel-max: argmax(logits + Gumbel noise) samples the categorical
                logits = logits - th.log(-th.log(th.rand_like(logits).clamp_min(1e-20)))
            return self._bin_low + logits.argmax(dim=2) * self._bin_width
        if deterministic:
            return output
        return output + th.randn_like(output) * self.log_std.exp()

    def random_actions(self, n: int) -> np.ndarray:
        """
        ``n`` uniformly random actions (UDRL's warm-up): samples of the action space, or with ``action_bins`` bins
        drawn uniformly, so that every action the policy stores is one it can output.

        :param n: number of actions
        """
        if self.action_bins is None:
            return np.array([self.action_space.sample() for _ in range(n)])
        bins = self.action_space.np_random.integers(self.action_bins, size=(n, *self.action_space.shape))
        low, high = self.action_space.low, self.action_space.high
        return (low + bins * (high - low) / (self.action_bins - 1)).astype(self.action_space.dtype)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        batch = len(observation[OBSERVATION_KEY] if isinstance(observation, dict) else observation)
        command = self.eval_command.expand(batch, -1)
        return self(observation, command, deterministic)

    def initial_command(self, n: int) -> tuple[np.ndarray, ...]:
        """Evaluation command for ``n`` new episodes, one array per command component."""
        command = self.eval_command.cpu().numpy().astype(np.float64)
        return tuple(np.full(n, c) for c in command)

    def next_command(self, command: tuple[np.ndarray, ...], prev_reward: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """
        Closed-loop command update at evaluation (the condition's, e.g. UDRL's Algorithm 2:
        ``d_r <- min(d_r - r, max_return)`` and ``d_h <- max(d_h - 1, 1)``). Without the reward (no RewardFeedback
        wrapper) only what needs no reward moves (UDRL: the horizon).

        :param command: one array per command component
        :param prev_reward: reward of the previous step, or None
        """
        updated = self.condition.update(np.stack(command, axis=1), prev_reward, float(self.max_return))
        return tuple(updated.T)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Action for ``observation`` under the command carried in ``state``, like a recurrent policy's hidden state.

        ``state=None`` or ``episode_start[i]`` starts episode ``i`` from the evaluation command; otherwise the
        command is updated in closed loop (paper, Algorithm 2) before acting.

        :param observation: observation(s)
        :param state: the command returned by the previous call (one array per command component)
        :param episode_start: which envs start a new episode
        :param deterministic: greedy (mode) actions instead of sampled ones
        :return: the actions and the command to pass back at the next step
        """
        if self.training:  # set_training_mode walks every submodule: a fifth of a one-env predict() otherwise
            self.set_training_mode(False)
        if isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict):
            raise ValueError(
                "predict() got an (obs, info) tuple: pass the observation only (Gymnasium reset() returns a tuple)"
            )
        prev_reward = None
        if isinstance(observation, dict):
            prev_reward = np.asarray(observation[PREV_REWARD_KEY], dtype=np.float64).reshape(-1)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n = len(obs_tensor[OBSERVATION_KEY] if isinstance(obs_tensor, dict) else obs_tensor)
        if state is None:
            command = self.initial_command(n)
        else:
            if len(state) != self.condition.dim or any(np.shape(c) != (n,) for c in state):
                raise ValueError(
                    f"predict() got a state of {[np.shape(c) for c in state]} for {n} observation(s): pass back the state "
                    f"of the previous call for the same envs ({self.condition.dim} arrays of shape ({n},)), or None"
                )
            command = self.next_command(tuple(np.asarray(c, dtype=np.float64) for c in state), prev_reward)
            if episode_start is not None:
                starts = np.asarray(episode_start, dtype=bool).reshape(-1)
                command = tuple(np.where(starts, c0, c) for c0, c in zip(self.initial_command(n), command, strict=True))
        command_tensor = th.as_tensor(np.stack(command, axis=1), dtype=th.float32, device=self.device)
        with th.no_grad():
            actions = self(obs_tensor, command_tensor, deterministic).cpu().numpy()
        actions = actions.reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, command

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.activation_fn,
                condition=self.condition,
                conditioning=self.conditioning,
                log_std_init=self.log_std_init,
                action_bins=self.action_bins,
                lr_schedule=self._dummy_schedule,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
                normalize_images=self.normalize_images,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                ortho_init=self.ortho_init,
            )
        )
        return data


class CnnCommandPolicy(CommandPolicy):
    """:class:`CommandPolicy` on image observations: the command multiplies the embedding of the conv stack
    (as the paper did for TakeCover). Parameters as :class:`CommandPolicy`, with ``NatureCNN`` and ``ortho_init`` by
    default."""

    def __init__(
        self,
        *args: Any,
        features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
        ortho_init: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, ortho_init=ortho_init, **kwargs)


class ValueCommandPolicy(CommandPolicy):
    """
    :class:`CommandPolicy` with a state-value network ``V(s)`` beside it (RCP-A), which has its own features extractor,
    MLP and optimiser (``value_optimizer``). The value network predicts ``(1 - gamma) V(s)``, i.e. values in reward
    units (AWR's scaling of the value targets); the algorithm multiplies back.

    :param args: as :class:`CommandPolicy`
    :param value_net_arch: hidden layers of the value MLP (AWR: ``[128, 64]``)
    :param value_learning_rate: learning rate of the value optimiser
    :param kwargs: as :class:`CommandPolicy`
    """

    def __init__(
        self, *args: Any, value_net_arch: list[int] | None = None, value_learning_rate: float = 1e-3, **kwargs: Any
    ) -> None:
        self.value_net_arch = [128, 64] if value_net_arch is None else list(value_net_arch)
        self.value_learning_rate = float(value_learning_rate)
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)  # the policy optimiser covers the policy's parameters only
        self.value_features_extractor = self.make_features_extractor()
        self.value_net = nn.Sequential(
            *create_mlp(self.value_features_extractor.features_dim, 1, self.value_net_arch, self.activation_fn)
        )
        self.value_optimizer = self.optimizer_class(
            self.value_parameters(), lr=self.value_learning_rate, **self._optimizer_kwargs()
        )

    def value_parameters(self) -> list[nn.Parameter]:
        """The parameters of ``V`` (its features extractor's and MLP's): those ``value_optimizer`` trains."""
        return [*self.value_features_extractor.parameters(), *self.value_net.parameters()]

    def scaled_value(self, obs: PyTorchObs) -> th.Tensor:
        """``(1 - gamma) V(s)``, shape ``(batch,)``."""
        return self.value_net(self.extract_features(obs, self.value_features_extractor)).squeeze(-1)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(value_net_arch=self.value_net_arch, value_learning_rate=self.value_learning_rate)
        return data


class CnnValueCommandPolicy(ValueCommandPolicy):
    """:class:`ValueCommandPolicy` on image observations (``NatureCNN`` by default, one per network, and
    ``ortho_init``)."""

    def __init__(
        self,
        *args: Any,
        features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
        ortho_init: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, ortho_init=ortho_init, **kwargs)
