"""Policies of RCP-R: ``pi(a | s, Z)``, the shared command policy with a one-component condition (the return-to-go)."""

from sb3_udrl.common.policies import CnnCommandPolicy, CommandPolicy

RCPRPolicy = CommandPolicy
RCPRCnnPolicy = CnnCommandPolicy
MlpPolicy = RCPRPolicy
CnnPolicy = RCPRCnnPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "RCPRCnnPolicy", "RCPRPolicy"]
