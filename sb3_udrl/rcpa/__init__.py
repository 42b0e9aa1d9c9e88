from sb3_udrl.rcpa.policies import CnnPolicy, MlpPolicy, RCPACnnPolicy, RCPAPolicy
from sb3_udrl.rcpa.rcpa import RCPA

__all__ = ["RCPA", "CnnPolicy", "MlpPolicy", "RCPACnnPolicy", "RCPAPolicy"]
