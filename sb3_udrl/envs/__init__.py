"""Env-specific helpers: the environments of the papers that gymnasium does not ship, and what a YAML entry may name
to bring knowledge of a particular env into a run (LunarLander's mirror and holds: :mod:`sb3_udrl.envs.lunar_lander`).

Nothing outside this package knows an env: the algorithms take the objects made here as constructor arguments
(``mirror=``, ``action_holds=``), and results that use them say so (``python -m sb3_udrl.benchmark report``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from sb3_udrl.common.wrappers import SparseReward

SPARSE_LUNAR_LANDER_ID = "LunarLanderSparse-v3"


def make_sparse_lunar_lander(**kwargs: Any) -> gym.Env:
    """LunarLander-v3 whose whole return is paid at the last step (UDRL paper, section 3.4).

    The time limit (1000 steps) is applied inside the sparse wrapper, so a truncated episode is paid too.

    :param kwargs: passed to ``gym.make("LunarLander-v3", ...)``
    """
    return SparseReward(gym.make("LunarLander-v3", **kwargs))


def register_envs() -> None:
    """Register the sparse LunarLander id (idempotent)."""
    if SPARSE_LUNAR_LANDER_ID not in gym.registry:
        gym.register(id=SPARSE_LUNAR_LANDER_ID, entry_point=make_sparse_lunar_lander)
