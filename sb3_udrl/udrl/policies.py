"""Policies of UDRL: the behaviour function B(s, (desired_return, desired_horizon))."""

from sb3_udrl.common.policies import CnnCommandPolicy, CommandPolicy

UDRLPolicy = CommandPolicy
MlpPolicy = CommandPolicy
CnnPolicy = CnnCommandPolicy
