"""Small helpers shared by the algorithms: argument checks and returns computed along episodes."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; ``TypeError`` / ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value: Any, low: float = 0.0, high: float = np.inf, low_inclusive: bool = False) -> float:
    """``value`` as a finite float in ``(low, high]`` (``[low, high]`` with ``low_inclusive``); errors name ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    above_low = value >= low if low_inclusive else value > low
    if not np.isfinite(value) or not above_low or value > high:
        bounds = f"{'>=' if low_inclusive else '>'} {low:g}" + ("" if high == np.inf else f" and <= {high:g}")
        raise ValueError(f"{name} must be a finite number {bounds}, got {value}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (``"False"`` from a command line would otherwise count as true); errors name ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} ({value!r})")
    return bool(value)


def check_action_bins(value: Any) -> int | None:
    """``value`` as the number of values per dimension of binned Box actions (an int >= 2), or None (a Gaussian)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"action_bins must be an integer >= 2 (or None for a Gaussian), got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of the strings ``choices``; errors name ``name``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {choices}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def lambda_returns(
    rewards: np.ndarray, values: np.ndarray, final_values: np.ndarray, mask: np.ndarray, gamma: float, gae_lambda: float
) -> np.ndarray:
    """
    TD(lambda) returns of whole episodes, vectorised over episodes (AWR's ``compute_return``; Sutton & Barto 12.1):
    ``G_t = r_t + gamma * ((1 - lambda) V(s_{t+1}) + lambda G_{t+1})``, with ``G_T = V(s_T) = final_values``.

    With ``values = final_values = 0`` and ``gae_lambda = 1`` this is the discounted return-to-go.

    :param rewards: ``(n_episodes, max_length)``, right-padded
    :param values: ``V(s_t)``, same shape
    :param final_values: ``V(s_T)`` after each episode's last step, ``(n_episodes,)``: the value of the final
        observation for a time-limit cut, 0 for a termination
    :param mask: True on real steps, same shape as ``rewards``
    :param gamma: discount
    :param gae_lambda: lambda
    :return: ``G_t`` of the same shape (padding holds ``final_values``)
    """
    returns = np.empty(rewards.shape, dtype=np.float64)
    next_return = final_values.astype(np.float64)
    next_value = next_return.copy()
    for t in reversed(range(rewards.shape[1])):
        step_return = rewards[:, t] + gamma * ((1 - gae_lambda) * next_value + gae_lambda * next_return)
        real = mask[:, t]
        next_return = np.where(real, step_return, next_return)
        next_value = np.where(real, values[:, t], next_value)
        returns[:, t] = next_return
    return returns
