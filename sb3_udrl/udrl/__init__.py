from sb3_udrl.udrl.policies import CnnPolicy, MlpPolicy
from sb3_udrl.udrl.udrl import PAPER_HYPERPARAMS, UDRL

__all__ = ["PAPER_HYPERPARAMS", "UDRL", "CnnPolicy", "MlpPolicy"]
