"""Policies of RCP-R and RCP-A: ``pi(a | s, Z)``, the shared command policy with a one-component condition.

RCP-A's policy also holds the value network ``V(s)`` and its optimiser.
"""

from sb3_udrl.common.policies import CnnCommandPolicy, CnnValueCommandPolicy, CommandPolicy, ValueCommandPolicy

RCPRPolicy = CommandPolicy
RCPRCnnPolicy = CnnCommandPolicy
RCPAPolicy = ValueCommandPolicy
RCPACnnPolicy = CnnValueCommandPolicy

__all__ = ["RCPACnnPolicy", "RCPAPolicy", "RCPRCnnPolicy", "RCPRPolicy"]
