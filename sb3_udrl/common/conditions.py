"""What a reward-conditioned policy is conditioned on: one small class per algorithm.

A :class:`Condition` owns the layout of the command vector (its components, their fixed input scales), the hindsight
relabelling of a sampled step, and the closed-loop update after each reward, used alike while collecting
(``CommandAlgorithm.collect_rollouts``), in ``evaluate()`` and in ``CommandPolicy.predict()``. It is a constructor
parameter of the policy, so a saved policy acts exactly as it was trained.

- :class:`ReturnHorizon` (UDRL): ``(desired_return, desired_horizon)``, UDRL paper section 2.3.
- :class:`ReturnToGo` (RCP-R): the (discounted) return-to-go ``Z``, RCP paper section 4.
- :class:`Advantage` (RCP-A): the advantage ``Z = A(s, a)``, RCP paper section 4.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from sb3_udrl.common.buffers import CommandSamples


class Condition(ABC):
    """
    Layout, relabelling and closed-loop update of a command.

    :param scales: fixed factors each command component is multiplied by before entering the network
    """

    #: names of the command components, in order (logged and documented)
    names: ClassVar[tuple[str, ...]]

    def __init__(self, scales: tuple[float, ...]) -> None:
        if len(scales) != len(self.names):
            raise ValueError(f"{type(self).__name__} has {len(self.names)} components {self.names}, got scales {scales}")
        self.scales = tuple(float(scale) for scale in scales)

    @property
    def dim(self) -> int:
        return len(self.names)

    @abstractmethod
    def relabel(self, batch: CommandSamples, row_values: np.ndarray | None) -> np.ndarray:
        """
        Hindsight command of each sampled step: what the agent actually achieved from it.

        :param batch: sampled steps
        :param row_values: per-row values the algorithm computed over the replay this iteration (e.g. advantages), or None
        :return: commands ``(batch, dim)``
        """

    def update(self, command: np.ndarray, rewards: np.ndarray | None, max_return: float = np.inf) -> np.ndarray:
        """
        Closed-loop command of the next step, given the rewards just received (in place where possible).

        :param command: commands ``(n, dim)``
        :param rewards: rewards ``(n,)`` of the step just taken, or None where they are not observed
        :param max_return: cap on the desired return (UDRL paper, Algorithm 2)
        :return: the updated commands
        """
        return command

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scales={self.scales})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)


class ReturnHorizon(Condition):
    """
    UDRL's command ``c = (d_r, d_h)``: relabelled as ``(return from t1 to the end, T - t1)`` (section 2.3.3), updated
    with ``d_r <- min(d_r - r_t, max_return)``, ``d_h <- max(d_h - 1, 1)`` (Algorithm 2).

    :param return_scale: factor of the desired return
    :param horizon_scale: factor of the desired horizon
    """

    names = ("desired_return", "desired_horizon")

    def __init__(self, return_scale: float = 0.02, horizon_scale: float = 0.01) -> None:
        super().__init__((return_scale, horizon_scale))

    def relabel(self, batch: CommandSamples, row_values: np.ndarray | None) -> np.ndarray:
        # (batch, 2): return achieved from t1 to the end, steps from t1 to the end
        return np.stack([batch.returns_to_go, batch.steps_to_go], axis=1)

    def update(self, command: np.ndarray, rewards: np.ndarray | None, max_return: float = np.inf) -> np.ndarray:
        if rewards is not None:
            command[:, 0] -= rewards
            np.minimum(command[:, 0], max_return, out=command[:, 0])
        command[:, 1] = np.maximum(command[:, 1] - 1, 1)
        return command


class ReturnToGo(Condition):
    """
    RCP-R's condition ``Z``: the return-to-go ``sum_k gamma^k r_{t+k}`` to the end of the episode, relabelled from
    the data and updated while acting with ``Z <- min((Z - r_t) / gamma, max_return)`` (the discounted form of UDRL's
    ``d_r <- d_r - r_t``), or held at its first value for the whole episode (the RCP research code).

    :param return_scale: factor of ``Z``
    :param gamma: discount of the return-to-go (1: undiscounted)
    :param closed_loop: whether ``Z`` follows the rewards while acting (False: constant within an episode)
    """

    names = ("return_to_go",)
    closed_loop = True  # files saved before the option existed

    def __init__(self, return_scale: float = 0.02, gamma: float = 1.0, closed_loop: bool = True) -> None:
        super().__init__((return_scale,))
        self.gamma = float(gamma)
        self.closed_loop = bool(closed_loop)

    def relabel(self, batch: CommandSamples, row_values: np.ndarray | None) -> np.ndarray:
        # Undiscounted: the buffer's own return-to-go; discounted: computed over the replay by the algorithm
        values = batch.returns_to_go if row_values is None else row_values[batch.rows]
        return values[:, None]

    def update(self, command: np.ndarray, rewards: np.ndarray | None, max_return: float = np.inf) -> np.ndarray:
        if rewards is not None and self.closed_loop:
            command[:, 0] = np.minimum((command[:, 0] - rewards) / self.gamma, max_return)
        return command


class Advantage(Condition):
    """
    RCP-A's condition ``Z``: the advantage of the step taken, in units of the replay's advantage standard deviation
    (the algorithm normalises it over the replay each iteration). It does not change while acting: each step asks for
    the same advantage.

    :param advantage_scale: factor of the normalised advantage
    """

    names = ("advantage",)

    def __init__(self, advantage_scale: float = 1.0) -> None:
        super().__init__((advantage_scale,))

    def relabel(self, batch: CommandSamples, row_values: np.ndarray | None) -> np.ndarray:
        if row_values is None:
            raise RuntimeError("Advantage relabelling needs the advantages computed over the replay")
        return row_values[batch.rows][:, None]
