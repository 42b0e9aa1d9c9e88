"""ViZDoom's TakeCover as the UDRL paper's image benchmark (install extra ``vizdoom``; docs/design/takecover.md).

The UDRL paper (arXiv 1912.02877, Figure 7) gives the agent "down-sampled gray-scale visual inputs" of TakeCover-v0
(gym-doom); ``VizdoomTakeCover-v1`` (``import vizdoom.gymnasium_wrapper`` registers it) is the same scenario.
:class:`TakeCoverObservation` makes its observations such images, for ``CnnPolicy``. In a YAML entry (rl-zoo3's
format), with the ``RewardFeedback`` that UDRL's closed-loop commands read::

    env_wrapper:
      - sb3_udrl.envs.vizdoom.TakeCoverObservation: {size: 64, frame_skip: 4, frame_stack: 4}
      - sb3_udrl.common.wrappers.RewardFeedback

and ``--gym-packages vizdoom.gymnasium_wrapper`` on the command line.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import FrameStackObservation, GrayscaleObservation, TransformObservation
from PIL import Image

#: The scenario's id in ViZDoom's gymnasium registry
TAKE_COVER_ID = "VizdoomTakeCover-v1"


def _screen(obs: dict[str, Any]) -> np.ndarray:
    return obs["screen"]


class _Resize:
    """Area-averaging resize of an ``(H, W, 3)`` uint8 image to ``(size, size, 3)`` with Pillow (gymnasium's
    ``ResizeObservation`` needs OpenCV, which sb3_udrl does not install)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(image).resize((self.size, self.size), Image.Resampling.BOX))


def _frames_to_channels(frames: np.ndarray) -> np.ndarray:
    """``(k, H, W, 1)`` stacked frames, oldest first, to ``(H, W, k)``: the newest frame is the last channel."""
    return np.moveaxis(frames[..., 0], 0, -1)


class TakeCoverObservation(gym.Wrapper):
    """
    A ViZDoom env's screen only (the ``gamevariables``, TakeCover's health, are dropped), down-sampled to
    ``size x size`` and made grayscale: uint8 images of shape ``(size, size, 1)``, channel last, which SB3's
    ``VecTransposeImage`` hands to ``CnnPolicy`` channel first. Each action is repeated for ``frame_skip`` tics by
    ViZDoom itself (its gymnasium env's ``frame_skip``, which renders the last tic only); the reward is the sum over
    the tics (+1 per tic alive on TakeCover).

    With ``frame_stack=k > 1`` the last ``k`` images are the channels, ``(size, size, k)``, newest last (the start of an
    episode repeats its first image): the motion of the fireballs, as rl-zoo3's ``frame_stack`` gives its Atari
    agents, stacked before ``RewardFeedback`` so that its reward stays one number. The replay then holds ``k`` times the
    bytes per step.

    Built from gymnasium's ``TransformObservation`` (screen, resize), ``GrayscaleObservation(keep_dim=True)`` and
    ``FrameStackObservation``.

    :param env: a ViZDoom env of ``vizdoom.gymnasium_wrapper`` (``Dict`` observations with a ``"screen"`` key) whose
        ``frame_skip`` is 1 or already ``frame_skip``
    :param size: height and width of the images (``NatureCNN`` needs 36 or more)
    :param frame_skip: tics per action
    :param frame_stack: images per observation (1: the current one only)
    """

    def __init__(self, env: gym.Env, size: int = 64, frame_skip: int = 4, frame_stack: int = 1) -> None:
        space = env.observation_space
        if not isinstance(space, spaces.Dict) or "screen" not in space.spaces:
            raise TypeError(f"TakeCoverObservation wraps ViZDoom envs (Dict observations with 'screen'), got {space}")
        screen_space = space["screen"]
        if not isinstance(screen_space, spaces.Box) or len(screen_space.shape) != 3 or screen_space.shape[2] != 3:
            raise TypeError(f"TakeCoverObservation needs RGB screens (ViZDoom's default RGB24), got {screen_space}")
        if size < 1 or frame_skip < 1 or frame_stack < 1:
            raise ValueError(f"size, frame_skip and frame_stack must be positive, got {size}, {frame_skip} and {frame_stack}")
        base = env.unwrapped
        if not hasattr(base, "frame_skip"):
            raise TypeError(f"TakeCoverObservation wraps vizdoom.gymnasium_wrapper's envs (with frame_skip), got {base}")
        if base.frame_skip not in (1, frame_skip):
            raise ValueError(f"the env already repeats each action for {base.frame_skip} tics; asked for {frame_skip}")
        base.frame_skip = frame_skip  # read by ViZDoom's step(): game.make_action(action, self.frame_skip)
        self.size = size
        self.frame_skip = frame_skip
        self.frame_stack = frame_stack
        wrapped: gym.Env = TransformObservation(env, _screen, screen_space)
        wrapped = TransformObservation(wrapped, _Resize(size), spaces.Box(0, 255, (size, size, 3), np.uint8))
        wrapped = GrayscaleObservation(wrapped, keep_dim=True)
        if frame_stack > 1:
            wrapped = TransformObservation(
                FrameStackObservation(wrapped, frame_stack),
                _frames_to_channels,
                spaces.Box(0, 255, (size, size, frame_stack), np.uint8),
            )
        super().__init__(wrapped)
