"""Mirror symmetries of environments, used to augment the training batches.

An env is mirror-symmetric when reflecting an episode (some observation features permuted and negated, some actions
swapped) gives an episode the env could have produced just as likely, with the same rewards. Each sample of a training
batch is then as good reflected as not: ``symmetry="lunar_lander"`` reflects each sample with probability 1/2, so the
behaviour function learns both sides of the env from the episodes of either.

LunarLander is such an env: the terrain and the initial push are drawn from distributions symmetric about the landing
pad, the engines' dispersion too, and the shaping reward depends on the distance to the pad, the speed, ``|angle|`` and
the legs' contacts only. This is an env-specific augmentation, not part of UDRL or RCP (README, "Mirrored samples").
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from sb3_udrl.common.utils import env_family


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
        self.action_index = None if action_index is None else np.asarray(action_index, dtype=np.int64)
        self.action_sign = None if action_sign is None else np.asarray(action_sign, dtype=np.float32)

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


def lunar_lander_mirror(observation_space: spaces.Space, action_space: spaces.Space) -> Mirror:
    """
    LunarLander's left-right reflection: ``x``, the horizontal velocity, the angle and the angular velocity change
    sign, the two legs' contacts swap, and so do the left and right orientation engines (Discrete actions 1 and 3;
    the sign of the lateral action of LunarLanderContinuous).

    :param observation_space: the env's observation space (``Box`` of shape ``(8,)``)
    :param action_space: ``Discrete(4)`` or ``Box`` of shape ``(2,)``
    """
    needs = "symmetry='lunar_lander' needs LunarLander's"
    if not isinstance(observation_space, spaces.Box) or observation_space.shape != (8,):
        raise ValueError(f"{needs} observations (a Box of shape (8,)), got {observation_space}")
    # x, y, vx, vy, angle, angular velocity, left leg contact, right leg contact
    obs_index, obs_sign = [0, 1, 2, 3, 4, 5, 7, 6], [-1, 1, -1, 1, -1, -1, 1, 1]
    if isinstance(action_space, spaces.Discrete) and action_space.n == 4:
        # noop, left orientation engine, main engine, right orientation engine
        return Mirror(obs_index, obs_sign, action_index=[0, 3, 2, 1])
    if isinstance(action_space, spaces.Box) and action_space.shape == (2,):
        # main engine, lateral engines (its sign picks the side)
        return Mirror(obs_index, obs_sign, action_sign=[1, -1])
    raise ValueError(f"{needs} actions (Discrete(4) or a Box of shape (2,)), got {action_space}")


#: The symmetries ``symmetry=`` accepts, by name
SYMMETRIES = {"lunar_lander": lunar_lander_mirror}

#: The symmetry ``symmetry="auto"`` uses for an env with Discrete actions, by its gymnasium id without the version: where
#: it was measured better (README, "Mirrored samples"; LunarLanderSparse with its holds: "Sparse LunarLander"). Not Box
#: actions (LunarLanderContinuous: worse on the one seed run)
AUTO_SYMMETRIES = {"LunarLander": "lunar_lander", "LunarLanderSparse": "lunar_lander"}


def auto_symmetry(env_id: str | None, observation_space: spaces.Space, action_space: spaces.Space) -> str | None:
    """
    What ``symmetry="auto"`` stands for: the symmetry of :data:`AUTO_SYMMETRIES` registered for the env's id when the
    actions are Discrete and the spaces are the ones it needs (a wrapper may have changed them), else None.

    :param env_id: the env's gymnasium id (``env.spec.id``), or None
    :param observation_space: the observations the policy sees (without :class:`~sb3_udrl.common.wrappers.RewardFeedback`)
    :param action_space: the env's action space
    """
    if env_id is None or not isinstance(action_space, spaces.Discrete):
        return None
    name = AUTO_SYMMETRIES.get(env_family(env_id))
    if name is None:
        return None
    try:
        SYMMETRIES[name](observation_space, action_space)
    except ValueError:
        return None
    return name


def make_mirror(name: str | None, observation_space: spaces.Space, action_space: spaces.Space) -> Mirror | None:
    """
    The :class:`Mirror` called ``name`` for these spaces (None for ``name=None``).

    :param name: a key of :data:`SYMMETRIES`, or None
    :param observation_space: the observations the policy sees (without :class:`~sb3_udrl.common.wrappers.RewardFeedback`)
    :param action_space: the env's action space
    """
    if name is None:
        return None
    if not isinstance(name, str) or name not in SYMMETRIES:
        raise ValueError(f"symmetry must be None, 'auto' or one of {tuple(SYMMETRIES)}, got {name!r}")
    return SYMMETRIES[name](observation_space, action_space)
