from sb3_udrl.rcp.policies import RCPACnnPolicy, RCPAPolicy, RCPRCnnPolicy, RCPRPolicy
from sb3_udrl.rcp.rcp import RCPA, RCPR

__all__ = ["RCPA", "RCPR", "RCPACnnPolicy", "RCPAPolicy", "RCPRCnnPolicy", "RCPRPolicy"]
