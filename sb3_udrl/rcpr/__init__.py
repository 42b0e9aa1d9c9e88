from sb3_udrl.rcpr.policies import CnnPolicy, MlpPolicy, RCPRCnnPolicy, RCPRPolicy
from sb3_udrl.rcpr.rcpr import RCPR

__all__ = ["RCPR", "CnnPolicy", "MlpPolicy", "RCPRCnnPolicy", "RCPRPolicy"]
