"""Temporally-extended exploration: actions held for several steps while collecting (``action_holds=``).

Not part of UDRL or RCP (the papers act with ``B(s, c)`` at every step): an opt-in feature of all three algorithms, in
the spirit of SB3's ``action_noise``. A held action repeats for ``steps`` steps, or for a length drawn from a zeta
distribution, as the action repeats of ez-greedy (Dabney et al. 2021, "Temporally-Extended epsilon-Greedy
Exploration"). Env-specific conditions (e.g. LunarLander's legs on the ground) live in :mod:`sb3_udrl.envs`.
``action_holds="ez_greedy"`` is ez-greedy's holds where actions are Discrete, none where they are Box, and
``"ez_greedy_decay"`` the same holds fading out over the first half of the budget (:func:`named_holds`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.utils import LinearSchedule

from sb3_udrl.common.utils import check_float, check_int

#: Which envs (rows of the observations, original units) may start a hold: ``(n_envs, *obs_shape) -> (n_envs,) bool``
HoldCondition = Callable[[np.ndarray], np.ndarray]


class ActionHolds:
    """
    At each training step, an env that is not holding an action starts holding one for ``steps`` steps with
    probability ``prob``: ``action`` (e.g. a no-op), or a uniformly random action if it is None. With ``zeta_mu``,
    each hold lasts ``n ~ zeta(zeta_mu)`` steps instead (``P(n) ~ n^-zeta_mu``), at most ``steps``: ez-greedy
    (Dabney et al. 2021) is ``ActionHolds(0.01, steps=10_000, zeta_mu=2.0)``. With a ``condition``
    on the observation, those holds start only where it holds, and elsewhere a random action is held with probability
    ``otherwise_prob``. Each probability decays linearly to 0 over a fraction of the budget, as DQN's
    ``exploration_fraction`` does epsilon. A hold ends with its episode.

    :param prob: probability of starting a hold at a step (where ``condition`` allows it)
    :param steps: steps an action is held for (with ``zeta_mu``: at most)
    :param fraction: fraction of the training budget over which ``prob`` decays to 0; None: no decay
    :param action: the held action (an int for Discrete actions, a list of the space's shape for Box actions);
        None: a uniformly random one
    :param condition: where ``prob``'s holds may start, a function of the observations of all envs; None: anywhere
    :param otherwise_prob: probability of holding a random action where ``condition`` does not hold (needs
        ``condition``)
    :param otherwise_fraction: fraction of the budget over which ``otherwise_prob`` decays to 0; None: ``fraction``
    :param zeta_mu: exponent of the zeta distribution of the hold lengths (> 1; ez-greedy: 2); None: every hold lasts
        ``steps`` steps
    """

    def __init__(
        self,
        prob: float,
        steps: int = 25,
        fraction: float | None = None,
        action: int | list[float] | None = None,
        condition: HoldCondition | None = None,
        otherwise_prob: float = 0.0,
        otherwise_fraction: float | None = None,
        zeta_mu: float | None = None,
    ) -> None:
        self.prob = check_float("ActionHolds prob", prob, high=1.0, low_inclusive=True)
        self.steps = check_int("ActionHolds steps", steps)
        self.fraction = None if fraction is None else check_float("ActionHolds fraction", fraction, high=1.0)
        self.action = check_hold_action(action, None)
        if condition is not None and not callable(condition):
            raise TypeError(f"ActionHolds condition must be a function of the observations or None, got {condition!r}")
        self.condition = condition
        self.otherwise_prob = check_float("ActionHolds otherwise_prob", otherwise_prob, high=1.0, low_inclusive=True)
        if self.otherwise_prob > 0.0 and condition is None:
            raise ValueError(
                f"ActionHolds otherwise_prob={otherwise_prob} needs a condition (where the other holds start); without "
                "one, prob with action=None holds random actions anywhere"
            )
        self.otherwise_fraction = (
            None if otherwise_fraction is None else check_float("ActionHolds otherwise_fraction", otherwise_fraction, high=1.0)
        )
        self.zeta_mu = None if zeta_mu is None else check_float("ActionHolds zeta_mu", zeta_mu, low=1.0)
        self.reset()

    def __repr__(self) -> str:
        condition = None if self.condition is None else getattr(self.condition, "__name__", repr(self.condition))
        return (
            f"ActionHolds(prob={self.prob}, steps={self.steps}, fraction={self.fraction}, action={self.action}, "
            f"condition={condition}, otherwise_prob={self.otherwise_prob}, otherwise_fraction={self.otherwise_fraction}, "
            f"zeta_mu={self.zeta_mu})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # The holds in progress belong to episodes in progress, which are not saved either
        return {key: value for key, value in self.__dict__.items() if key not in ("_held_actions", "_steps_left")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"zeta_mu": None, **state})  # saved before zeta_mu existed: fixed lengths
        self.reset()

    def check(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """
        Raise ``ValueError`` / ``TypeError`` naming the problem if ``action`` is not an action of ``action_space`` or
        ``condition`` does not accept observations of ``observation_space``.

        :param observation_space: the observations the condition reads (without RewardFeedback's previous reward)
        :param action_space: the env's action space
        """
        self.action = check_hold_action(self.action, action_space)
        if self.condition is None:
            return
        sample = np.zeros((1, *observation_space.shape), dtype=observation_space.dtype)
        allowed = np.asarray(self.condition(sample))
        if allowed.shape != (1,) or allowed.dtype != np.bool_:
            raise ValueError(
                f"ActionHolds condition {self.condition!r} must map observations (n_envs, *obs_shape) to a (n_envs,) "
                f"bool array; on {observation_space} it gave {allowed.dtype} of shape {allowed.shape}"
            )

    def reset(self, env_index: int | None = None) -> None:
        """End the hold of env ``env_index`` (its episode ended), or of every env (None: the envs were reset)."""
        if env_index is None:
            self._held_actions: np.ndarray | None = None
            self._steps_left: np.ndarray | None = None
        elif self._steps_left is not None:
            self._steps_left[env_index] = 0

    def __call__(
        self,
        actions: np.ndarray,
        observations: Callable[[], np.ndarray],
        progress_remaining: float,
        rng: np.random.Generator,
        random_actions: Callable[[int], np.ndarray],
    ) -> np.ndarray:
        """
        The actions to take: ``actions``, except for the envs holding an action.

        :param actions: the policy's actions for all envs
        :param observations: gives the current observations of all envs (original units), read only if needed
        :param progress_remaining: SB3's remaining progress, 1 -> 0 over the budget
        :param rng: the algorithm's random generator
        :param random_actions: ``n -> n`` uniformly random actions
        """
        prob, otherwise_prob = self.prob, self.otherwise_prob
        if prob == 0.0 and otherwise_prob == 0.0:
            return actions
        if self._steps_left is None or len(self._steps_left) != len(actions):
            self._held_actions, self._steps_left = np.zeros_like(actions), np.zeros(len(actions), dtype=np.int64)
        held_actions, steps_left = self._held_actions, self._steps_left
        assert held_actions is not None
        if self.fraction is not None:
            prob *= LinearSchedule(1.0, 0.0, self.fraction)(progress_remaining)
        otherwise_fraction = self.fraction if self.otherwise_fraction is None else self.otherwise_fraction
        if otherwise_fraction is not None:
            otherwise_prob *= LinearSchedule(1.0, 0.0, otherwise_fraction)(progress_remaining)
        if prob <= 0.0 and otherwise_prob <= 0.0 and not steps_left.any():
            return actions
        draw, free = rng.random(len(actions)), steps_left == 0
        start, start_otherwise = free & (draw < prob), free & (draw < otherwise_prob)
        if self.condition is not None and (start | start_otherwise).any():
            allowed = self.condition(observations())
            start &= allowed
            start_otherwise &= ~allowed
        if start.any():
            held_actions[start] = random_actions(int(start.sum())) if self.action is None else self.action
            steps_left[start] = self._lengths(int(start.sum()), rng)
        if start_otherwise.any():
            held_actions[start_otherwise] = random_actions(int(start_otherwise.sum()))
            steps_left[start_otherwise] = self._lengths(int(start_otherwise.sum()), rng)
        holding = steps_left > 0
        steps_left[holding] -= 1
        return np.where(holding.reshape(-1, *[1] * (actions.ndim - 1)), held_actions, actions)

    def _lengths(self, n: int, rng: np.random.Generator) -> np.ndarray | int:
        """Lengths of ``n`` new holds: ``steps``, or ez-greedy's ``zeta(zeta_mu)`` draws capped at ``steps``."""
        if self.zeta_mu is None:
            return self.steps
        return np.minimum(rng.zipf(self.zeta_mu, size=n), self.steps)


#: The holds ``action_holds=`` accepts by name, each with the fraction of the budget its probability decays over
HOLDS_BY_NAME: dict[str, float | None] = {"ez_greedy": None, "ez_greedy_decay": 0.5}


def check_action_holds(action_holds: Any) -> ActionHolds | str | None:
    """
    ``action_holds`` checked: an :class:`ActionHolds`, a key of :data:`HOLDS_BY_NAME` or None, returned as given;
    ``ValueError`` for an unknown name, ``TypeError`` for anything else, both listing what is accepted.

    :param action_holds: the algorithm's ``action_holds`` argument
    """
    accepted = f"an ActionHolds, one of {sorted(HOLDS_BY_NAME)} or None"
    if isinstance(action_holds, str) and action_holds not in HOLDS_BY_NAME:
        raise ValueError(f"action_holds must be {accepted}, got {action_holds!r}")
    if action_holds is not None and not isinstance(action_holds, (ActionHolds, str)):
        raise TypeError(f"action_holds must be {accepted}, got {type(action_holds).__name__}")
    return action_holds


def named_holds(name: str, action_space: spaces.Space) -> ActionHolds | None:
    """
    What ``action_holds=name`` means on ``action_space``. On Discrete actions, ez-greedy with its Atari settings
    (Dabney et al. 2021: ``epsilon = 0.01``, ``n ~ zeta(2)``; the cap of 10,000 steps outlasts any episode of the
    report): ``"ez_greedy"`` is ``ActionHolds(0.01, steps=10_000, zeta_mu=2.0)``, ``"ez_greedy_decay"`` the same with
    the probability decaying linearly to 0 over the first half of the budget (``fraction=0.5``, as DQN's
    ``exploration_fraction``; RCPA's default, docs/modules/rcpa.md). On Box actions none: ez-greedy is defined for
    Discrete actions, and a uniformly random Box action held at full thrust is not a held discrete engine (on
    LunarLanderContinuous-v3 RCPA's greedy agent lost 107 with it, docs/modules/rcpa.md).

    :param name: a key of :data:`HOLDS_BY_NAME`
    :param action_space: the env's action space
    :return: the holds, or None
    """
    check_action_holds(name)
    if isinstance(action_space, spaces.Discrete):
        return ActionHolds(0.01, steps=10_000, zeta_mu=2.0, fraction=HOLDS_BY_NAME[name])
    return None


def check_hold_action(action: Any, action_space: spaces.Space | None) -> int | list[float] | None:
    """
    ``action`` checked against the action space: an int action of a Discrete space, or, for Box actions, a list of
    floats of the space's shape inside its bounds. ``TypeError`` / ``ValueError`` naming the hold action otherwise.

    :param action: the action, or None (a random action)
    :param action_space: the env's action space; None (not known yet): only the type is checked
    """
    if action is None:
        return None
    if isinstance(action_space, spaces.Box) or (action_space is None and isinstance(action, (list, tuple, np.ndarray))):
        if isinstance(action, (str, bytes, bool)):
            raise TypeError(f"The hold action must be an action of the Box action space, got {action!r}")
        try:
            box_action = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"The hold action must be an action of the Box action space, got {action!r}") from error
        if action_space is not None and not action_space.contains(box_action.astype(action_space.dtype)):
            raise ValueError(f"The hold action {action} is not an action of the action space {action_space}")
        return box_action.tolist()
    if not isinstance(action_space, (spaces.Discrete, type(None))):
        raise ValueError(f"ActionHolds supports Discrete and Box action spaces, got {action_space}")
    minimum = int(getattr(action_space, "start", 0))
    discrete_action = check_int("The hold action", action, minimum=minimum)
    if action_space is not None and discrete_action - minimum >= action_space.n:
        raise ValueError(f"The hold action {action} is not an action of the action space {action_space}")
    return discrete_action
