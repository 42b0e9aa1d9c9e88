"""Exploration in time (``hold_prob``): the holds that ``hold_prob="auto"`` stands for, by env."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_udrl.common.utils import env_family

#: What ``hold_prob="auto"`` uses for an env with Discrete actions, by its gymnasium id without the version: where it
#: was measured better than no holds on seeds other than those it was chosen on (README, "When the first landings
#: come"). LunarLander: while a leg touches the ground, hold the no-op for 25 steps (the lander comes to rest and lands),
#: starting with probability 0.008 per step, decaying to 0 over the first third of the budget (1M of 3M steps). Not the
#: sparse env nor Box actions (not measured there).
AUTO_HOLDS: dict[str, dict[str, Any]] = {
    "LunarLander": dict(hold_prob=0.008, hold_fraction=0.333, hold_action=0, hold_when="lunar_lander_ground"),
}


def auto_holds(env_id: str | None, observation_space: spaces.Space, action_space: spaces.Space) -> dict[str, Any] | None:
    """
    What ``hold_prob="auto"`` stands for: the ``hold_prob``, ``hold_fraction``, ``hold_action`` and ``hold_when`` of
    :data:`AUTO_HOLDS` registered for the env's id when its actions are Discrete and hold that action and its
    observations are the ones ``hold_when`` reads (a wrapper may have changed them), else None (no holds).

    :param env_id: the env's gymnasium id (``env.spec.id``), or None
    :param observation_space: the observations the policy sees (without RewardFeedback's previous reward)
    :param action_space: the env's action space
    """
    if env_id is None or not isinstance(action_space, spaces.Discrete):
        return None
    holds = AUTO_HOLDS.get(env_family(env_id))
    if holds is None or not action_space.start <= holds["hold_action"] < action_space.start + action_space.n:
        return None
    try:
        make_hold_condition(holds.get("hold_when"), observation_space)
    except ValueError:
        return None
    return dict(holds)


def lunar_lander_ground(observations: np.ndarray) -> np.ndarray:
    """Which LunarLander landers (rows of ``observations``) touch the ground with a leg (contacts at indices 6, 7)."""
    return (observations[:, 6] > 0) | (observations[:, 7] > 0)


#: Where holds may start (``hold_when``), by name: a function of the observations of all envs (original units, without
#: RewardFeedback's previous reward) giving which envs may start one, and the observation shape it needs
HOLD_CONDITIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], tuple[int, ...]]] = {
    "lunar_lander_ground": (lunar_lander_ground, (8,)),
}


def make_hold_condition(name: str | None, observation_space: spaces.Space) -> Callable[[np.ndarray], np.ndarray] | None:
    """
    The function of :data:`HOLD_CONDITIONS` called ``name``, checked against the observations (None for ``name=None``:
    holds start anywhere).

    :param name: a key of :data:`HOLD_CONDITIONS`, or None
    :param observation_space: the observations the policy sees (without RewardFeedback's previous reward)
    """
    if name is None:
        return None
    if not isinstance(name, str) or name not in HOLD_CONDITIONS:
        raise ValueError(f"hold_when must be None or one of {tuple(HOLD_CONDITIONS)}, got {name!r}")
    condition, shape = HOLD_CONDITIONS[name]
    if not isinstance(observation_space, spaces.Box) or observation_space.shape != shape:
        raise ValueError(f"hold_when={name!r} needs Box observations of shape {shape}, got {observation_space}")
    return condition
