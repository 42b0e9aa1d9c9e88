"""Reward-conditioned reinforcement learning (Upside-Down RL, Reward-Conditioned Policies) for Stable-Baselines3."""

from sb3_udrl.common.wrappers import RewardFeedback, SparseReward
from sb3_udrl.envs import SPARSE_LUNAR_LANDER_ID, register_envs
from sb3_udrl.rcpa import RCPA
from sb3_udrl.rcpr import RCPR
from sb3_udrl.udrl import UDRL

__version__ = "0.1.0"

register_envs()

__all__ = ["RCPA", "RCPR", "SPARSE_LUNAR_LANDER_ID", "UDRL", "RewardFeedback", "SparseReward", "__version__"]
