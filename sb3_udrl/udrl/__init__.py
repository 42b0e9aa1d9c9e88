from sb3_udrl.udrl.policies import CnnPolicy, MlpPolicy
from sb3_udrl.udrl.udrl import UDRL

__all__ = ["UDRL", "CnnPolicy", "MlpPolicy"]
