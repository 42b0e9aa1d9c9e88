"""Policies of RCP-A: ``pi(a | s, Z)``, the shared command policy with a one-component condition (the advantage),
which also holds the value network ``V(s)`` and its optimiser."""

from sb3_udrl.common.policies import CnnValueCommandPolicy, ValueCommandPolicy

RCPAPolicy = ValueCommandPolicy
RCPACnnPolicy = CnnValueCommandPolicy
MlpPolicy = RCPAPolicy
CnnPolicy = RCPACnnPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "RCPACnnPolicy", "RCPAPolicy"]
