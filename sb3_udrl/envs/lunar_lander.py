"""Knowledge of LunarLander (v3, its sparse and its continuous variants) that a YAML entry may bring into a run.

Neither is part of UDRL or RCP; both were measured to help UDRL on LunarLander (docs/design/env_knowledge.md):

- :func:`lunar_lander_mirror`, ``mirror=``: the left-right reflection of the lander (the terrain, the initial push and
  the engines' dispersion are symmetric about the pad, and the shaping reward depends on the distance to the pad,
  the speed, ``|angle|`` and the legs' contacts only);
- :func:`ground_holds`, ``action_holds=``: a no-op held while a leg touches the ground (the lander comes to rest and
  lands instead of hovering), early in training.

In a YAML entry (rl-zoo3's format), by dotted path, as rl-zoo3 names ``env_wrapper``::

    mirror: sb3_udrl.envs.lunar_lander.lunar_lander_mirror
    action_holds:
      sb3_udrl.envs.lunar_lander.ground_holds: {otherwise_prob: 0.008}
"""

from __future__ import annotations

import numpy as np

from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.symmetry import Mirror

#: Observation features: x, y, vx, vy, angle, angular velocity, left leg contact, right leg contact
N_FEATURES = 8


def leg_on_ground(observations: np.ndarray) -> np.ndarray:
    """Which landers (rows of ``observations``, shape ``(n_envs, 8)``) touch the ground with a leg (features 6, 7)."""
    if observations.ndim != 2 or observations.shape[1] != N_FEATURES:
        raise ValueError(f"leg_on_ground reads LunarLander's observations of shape (n_envs, 8), got {observations.shape}")
    return (observations[:, 6] > 0) | (observations[:, 7] > 0)


def lunar_lander_mirror(continuous: bool = False) -> Mirror:
    """
    LunarLander's left-right reflection: ``x``, the horizontal velocity, the angle and the angular velocity change
    sign, the two legs' contacts swap, and so do the left and right orientation engines (Discrete actions 1 and 3;
    the sign of the lateral action of the continuous variant).

    :param continuous: for ``LunarLanderContinuous`` (Box actions of shape ``(2,)``) instead of ``Discrete(4)``
    """
    obs_index, obs_sign = [0, 1, 2, 3, 4, 5, 7, 6], [-1, 1, -1, 1, -1, -1, 1, 1]
    if continuous:
        return Mirror(obs_index, obs_sign, action_sign=[1, -1])  # main engine, lateral engines (the sign picks the side)
    return Mirror(obs_index, obs_sign, action_index=[0, 3, 2, 1])  # noop, left, main, right engine


def ground_holds(
    prob: float = 0.008,
    steps: int = 25,
    fraction: float | None = 0.333,
    action: int | list[float] = 0,
    otherwise_prob: float = 0.0,
    otherwise_fraction: float | None = None,
) -> ActionHolds:
    """
    ``action`` (the no-op; ``[-1.0, 0.0]``, both engines off, for the continuous variant) held for ``steps`` steps,
    started with probability ``prob`` at a step where a leg touches the ground, decaying to 0 over the first
    ``fraction`` of the budget; with ``otherwise_prob`` also a random action held in the air (the sparse env's way out
    of the crash trap).

    :param prob: probability of starting a hold on the ground
    :param steps: steps an action is held for
    :param fraction: fraction of the budget over which the probabilities decay to 0
    :param action: the action held on the ground
    :param otherwise_prob: probability of holding a random action in the air
    :param otherwise_fraction: fraction of the budget over which ``otherwise_prob`` decays; None: ``fraction``
    """
    return ActionHolds(prob, steps, fraction, action, leg_on_ground, otherwise_prob, otherwise_fraction)
