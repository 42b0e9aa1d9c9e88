"""Mirror symmetries of environments, used to augment the training batches (``mirror=``).

An env is mirror-symmetric when reflecting an episode (some observation features permuted and negated, some actions
swapped) gives an episode the env could have produced just as likely, with the same rewards. Each sample of a training
batch is then as good reflected as not: with a :class:`Mirror`, each sample is reflected with probability 1/2, so the
behaviour function learns both sides of the env from the episodes of either. Not part of UDRL or RCP: an opt-in
feature of all three algorithms; the mirrors of particular envs live in :mod:`sb3_udrl.envs`.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


class Mirror:
    """
    A reflection of observations and actions: ``obs' = obs[..., obs_index] * obs_sign`` and, for Discrete actions,
    ``a' = action_index[a]``, for Box actions ``a' = a * action_sign``.

    :param obs_index: source feature of each mirrored feature, shape ``(n_features,)``
    :param obs_sign: sign of each mirrored feature, shape ``(n_features,)``
    :param action_index: Discrete actions: the mirrored action of each action
    :param action_sign: Box actions: the sign of each mirrored action dimension
    """

    def __init__(
        self,
        obs_index: list[int],
        obs_sign: list[float],
        action_index: list[int] | None = None,
        action_sign: list[float] | None = None,
    ) -> None:
        if (action_index is None) == (action_sign is None):
            raise ValueError("A Mirror maps either Discrete actions (action_index) or Box actions (action_sign)")
        self.obs_index = np.asarray(obs_index, dtype=np.int64)
        self.obs_sign = np.asarray(obs_sign, dtype=np.float32)
        if self.obs_index.ndim != 1 or self.obs_index.shape != self.obs_sign.shape:
            raise ValueError(
                f"Mirror obs_index and obs_sign must be 1-D and of the same length, got {self.obs_index.shape} and "
                f"{self.obs_sign.shape}"
            )
        self.action_index = None if action_index is None else np.asarray(action_index, dtype=np.int64)
        self.action_sign = None if action_sign is None else np.asarray(action_sign, dtype=np.float32)

    def __repr__(self) -> str:
        actions = (
            f"action_index={self.action_index.tolist()}"
            if self.action_index is not None
            else f"action_sign={self.action_sign.tolist()}"  # type: ignore[union-attr]
        )
        return f"Mirror(obs_index={self.obs_index.tolist()}, obs_sign={self.obs_sign.tolist()}, {actions})"

    def check(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """
        Raise ``ValueError`` naming the mismatch if the mirror does not fit the spaces.

        :param observation_space: the observations the policy sees (without RewardFeedback's previous reward)
        :param action_space: the env's action space
        """
        n_features = len(self.obs_index)
        if not isinstance(observation_space, spaces.Box) or observation_space.shape != (n_features,):
            raise ValueError(f"The mirror maps Box observations of shape ({n_features},), got {observation_space}")
        if self.obs_index.min() < 0 or self.obs_index.max() >= n_features:
            raise ValueError(f"Mirror obs_index must hold features 0 .. {n_features - 1}, got {self.obs_index.tolist()}")
        if self.action_index is not None:
            n = len(self.action_index)
            valid = isinstance(action_space, spaces.Discrete) and action_space.n == n and int(action_space.start) == 0
            if not valid:
                raise ValueError(f"The mirror maps Discrete({n}) actions, got {action_space}")
            if sorted(self.action_index.tolist()) != list(range(n)):
                raise ValueError(f"Mirror action_index must be a permutation of 0 .. {n - 1}, got {self.action_index}")
        else:
            shape = self.action_sign.shape  # type: ignore[union-attr]
            if not isinstance(action_space, spaces.Box) or action_space.shape != shape:
                raise ValueError(f"The mirror maps Box actions of shape {shape}, got {action_space}")

    def observations(self, obs: np.ndarray) -> np.ndarray:
        """Mirrored observations, shape ``(batch, n_features)``."""
        return (obs[..., self.obs_index] * self.obs_sign).astype(obs.dtype, copy=False)

    def actions(self, actions: np.ndarray) -> np.ndarray:
        """Mirrored actions: ``(batch,)`` indices (Discrete) or ``(batch, n_dims)`` (Box)."""
        if self.action_index is not None:
            return self.action_index[actions]
        return (actions * self.action_sign).astype(actions.dtype, copy=False)

    def apply(self, obs: np.ndarray, actions: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """
        Copies of ``obs`` and ``actions`` with the samples where ``mask`` is True mirrored.

        :param obs: observations ``(batch, n_features)``
        :param actions: actions ``(batch,)`` or ``(batch, n_dims)``
        :param mask: which samples to mirror, ``(batch,)``
        """
        obs, actions = obs.copy(), actions.copy()
        obs[mask] = self.observations(obs[mask])
        actions[mask] = self.actions(actions[mask])
        return obs, actions
