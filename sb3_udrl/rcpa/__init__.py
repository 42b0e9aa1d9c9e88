from sb3_udrl.rcpa.policies import CnnPolicy, MlpPolicy, RCPACnnPolicy, RCPAPolicy
from sb3_udrl.rcpa.rcpa import PAPER_HYPERPARAMS, RCPA

__all__ = ["PAPER_HYPERPARAMS", "RCPA", "CnnPolicy", "MlpPolicy", "RCPACnnPolicy", "RCPAPolicy"]
