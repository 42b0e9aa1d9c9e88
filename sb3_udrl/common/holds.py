"""Exploration in time (``hold_prob``): the holds that ``hold_prob="auto"`` stands for, by env."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_udrl.common.utils import check_int, env_family

#: What ``hold_prob="auto"`` uses, by the env's gymnasium id without the version: where it was measured better than no
#: holds on seeds other than those it was chosen on (README, "When the first landings come", "Sparse LunarLander" and
#: "Box actions").
#: LunarLander: while a leg touches the ground, hold the no-op for 25 steps (the lander comes to rest and lands), starting
#: with probability 0.008 per step, decaying to 0 over the first third of the budget (1M of 3M steps).
#: LunarLanderSparse (the sparse env of the UDRL paper): the same, and in the air a random action held for 25 steps with
#: the same probability (a held main engine brakes a fall the policy does not yet brake: the way out of the crash trap;
#: on LunarLander-v3 these cost greedy evaluation). LunarLanderContinuous: the ground holds with both engines off.
AUTO_HOLDS: dict[str, dict[str, Any]] = {
    "LunarLander": dict(hold_prob=0.008, hold_fraction=0.333, hold_action=0, hold_when="lunar_lander_ground"),
    "LunarLanderSparse": dict(
        hold_prob=0.008, hold_fraction=0.333, hold_action=0, hold_when="lunar_lander_ground", hold_elsewhere_prob=0.008
    ),
    "LunarLanderContinuous": dict(
        hold_prob=0.008, hold_fraction=0.333, hold_action=[-1.0, 0.0], hold_when="lunar_lander_ground"
    ),
}


def auto_holds(env_id: str | None, observation_space: spaces.Space, action_space: spaces.Space) -> dict[str, Any] | None:
    """
    What ``hold_prob="auto"`` stands for: the ``hold_prob``, ``hold_fraction``, ``hold_action``, ``hold_when`` and
    ``hold_elsewhere_prob`` of :data:`AUTO_HOLDS` registered for the env's id when its action space holds that action
    and its observations are the ones ``hold_when`` reads (a wrapper may have changed either), else None (no holds).

    :param env_id: the env's gymnasium id (``env.spec.id``), or None
    :param observation_space: the observations the policy sees (without RewardFeedback's previous reward)
    :param action_space: the env's action space
    """
    if env_id is None:
        return None
    holds = AUTO_HOLDS.get(env_family(env_id))
    if holds is None:
        return None
    try:
        hold_action = check_hold_action(holds["hold_action"], action_space)  # a copy: the registry stays as it is
        make_hold_condition(holds.get("hold_when"), observation_space)
    except (TypeError, ValueError):
        return None
    return dict(holds, hold_action=hold_action)


def check_hold_action(hold_action: Any, action_space: spaces.Space | None) -> int | list[float] | None:
    """
    ``hold_action`` checked against the action space: an int action of a Discrete space, or, for Box actions, a list
    of floats of the space's shape inside its bounds (e.g. LunarLanderContinuous' engines off, ``[-1.0, 0.0]``).
    ``TypeError`` / ``ValueError`` naming ``hold_action`` otherwise.

    :param hold_action: the action, or None (a random action)
    :param action_space: the env's action space; None (no env yet): only the type is checked
    """
    if hold_action is None:
        return None
    if isinstance(action_space, spaces.Box) or (action_space is None and isinstance(hold_action, (list, tuple, np.ndarray))):
        if isinstance(hold_action, (str, bytes, bool)):
            raise TypeError(f"hold_action must be an action of the Box action space, got {hold_action!r}")
        try:
            action = np.asarray(hold_action, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"hold_action must be an action of the Box action space, got {hold_action!r}") from error
        if action_space is not None and not action_space.contains(action.astype(action_space.dtype)):
            raise ValueError(f"hold_action={hold_action} is not an action of the action space {action_space}")
        return action.tolist()
    minimum = int(getattr(action_space, "start", 0))
    action = check_int("hold_action", hold_action, minimum=minimum)
    if action_space is not None and not (isinstance(action_space, spaces.Discrete) and action - minimum < action_space.n):
        raise ValueError(f"hold_action={hold_action} is not an action of the action space {action_space}")
    return action


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
