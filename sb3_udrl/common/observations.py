"""The env's observations as the algorithm sees them: normalised for the networks, original for the replay.

With VecNormalize the replay stores the original observations and the networks see them normalised with the current
statistics (so the replay never holds stale normalisations); where SB3 transposed channel-last images above
VecNormalize (``VecTransposeImage``), statistics and original observations are channel-last and the replay's
channel-first. Observations the env returns are checked (shape, finite values) before anything of a step is stored.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecNormalize

from sb3_udrl.common.buffers import EpisodicReplayBuffer
from sb3_udrl.common.wrappers import OBSERVATION_KEY, PREV_REWARD_KEY, base_observation_space


class ObservationMixin:
    """
    Observation handling of :class:`~sb3_udrl.common.base.CommandAlgorithm`: normalisation, image layout, final
    observations and the checks of what the env returns.
    """

    _vec_normalize_env: VecNormalize | None
    observation_space: spaces.Space
    replay_buffer: EpisodicReplayBuffer | None

    @staticmethod
    def _base_obs(obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """The env's own observation: ``obs`` itself, or its ``OBSERVATION_KEY`` entry under ``RewardFeedback``."""
        return obs[OBSERVATION_KEY] if isinstance(obs, dict) else obs

    def _normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """Normalise stored (original) observations with the current VecNormalize statistics, if any."""
        vec_normalize = self._vec_normalize_env
        if vec_normalize is None or not vec_normalize.norm_obs:
            return obs
        obs_rms = vec_normalize.obs_rms
        if isinstance(obs_rms, dict):
            if OBSERVATION_KEY not in vec_normalize.norm_obs_keys:
                return obs
            obs_rms = obs_rms[OBSERVATION_KEY]
        if self._images_transposed():  # the statistics are channel-last, as VecNormalize saw the images
            return np.moveaxis(vec_normalize._normalize_obs(np.moveaxis(obs, -3, -1), obs_rms), -1, -3).astype(np.float32)
        return vec_normalize._normalize_obs(obs, obs_rms).astype(np.float32)

    def _images_transposed(self) -> bool:
        """Whether SB3 transposed channel-last images above VecNormalize (``VecTransposeImage``): VecNormalize's
        original observations and statistics are then channel-last, the policy's and the replay's channel-first."""
        vec_normalize = self._vec_normalize_env
        if vec_normalize is None:
            return False
        original = base_observation_space(vec_normalize.observation_space)
        return original.shape != base_observation_space(self.observation_space).shape and is_image_space(original)

    def _stored_obs(self, original_obs: np.ndarray) -> np.ndarray:
        """VecNormalize's original observations in the replay's (the policy's) layout."""
        return np.moveaxis(original_obs, -1, -3) if self._images_transposed() else original_obs

    def _check_vec_normalize(self) -> None:
        """Refuse a VecNormalize that normalises ``RewardFeedback``'s previous reward (read in reward units)."""
        vec_normalize = self._vec_normalize_env
        if isinstance(vec_normalize, VecNormalize) and vec_normalize.norm_obs and isinstance(vec_normalize.obs_rms, dict):
            if PREV_REWARD_KEY in vec_normalize.norm_obs_keys:
                raise ValueError(
                    f"VecNormalize normalises the {PREV_REWARD_KEY!r} key of RewardFeedback, which the command update "
                    f"reads in real reward units: use VecNormalize(..., norm_obs_keys=[{OBSERVATION_KEY!r}])"
                )

    def _final_observation(self, info: dict[str, Any]) -> np.ndarray | None:
        """The unnormalised observation after an episode's last step (VecEnv's ``terminal_observation``). With
        VecNormalize it is recovered from the normalised one, so an observation beyond ``clip_obs`` standard deviations
        comes back clipped there (the only stored value that can differ from what the env returned)."""
        final_obs = info.get("terminal_observation")
        if final_obs is None:
            return None
        if self._vec_normalize_env is None:
            return np.asarray(self._base_obs(final_obs))
        if self._images_transposed():  # VecTransposeImage transposed it; VecNormalize's statistics are channel-last
            if isinstance(final_obs, dict):
                final_obs = {**final_obs, OBSERVATION_KEY: np.moveaxis(final_obs[OBSERVATION_KEY], -3, -1)}
            else:
                final_obs = np.moveaxis(final_obs, -3, -1)
        final_obs = self._vec_normalize_env.unnormalize_obs(final_obs)
        return self._stored_obs(np.asarray(self._base_obs(final_obs)))

    def _check_finite_obs(self, obs: np.ndarray | dict[str, np.ndarray] | None, what: str = "an observation") -> None:
        """Refuse non-finite observations before anything is stored (they would poison the replay for good)."""
        if obs is None:
            return
        base = np.asarray(self._base_obs(obs))
        if np.issubdtype(base.dtype, np.floating) and not np.all(np.isfinite(base)):
            bad = np.argwhere(~np.isfinite(base.reshape(len(base), -1)))[0]
            raise ValueError(
                f"The environment returned {what} with non-finite values (env {bad[0]}, entry {bad[1]}: "
                f"{base.reshape(len(base), -1)[bad[0], bad[1]]}); nothing of this step was stored"
            )

    def _check_obs_shape(self, shape: tuple[int, ...], what: str = "an observation") -> None:
        """Refuse an observation (one env's, without the env axis) whose shape is not the observation space's."""
        expected = self.replay_buffer.obs_shape  # type: ignore[union-attr]
        if shape != expected:
            raise ValueError(
                f"The environment returned {what} of shape {shape}, but its observation space has shape {expected}: "
                "an env's observations must keep the shape of its observation_space; nothing of this step was stored"
            )

    def _observation_shape_error(self, error: ValueError) -> ValueError | None:
        """The clearer error for a VecEnv that could not store an observation of another shape than its space's (its
        buffer, DummyVecEnv; its stacking, SubprocVecEnv); None where ``error`` is something else."""
        frames = traceback.extract_tb(error.__traceback__)
        if not any(frame.name in ("_save_obs", "_stack_obs") and "vec_env" in frame.filename for frame in frames):
            return None
        match = re.search(r"from shape (\([^)]*\)) into shape (\([^)]*\))", str(error))
        if match:  # DummyVecEnv: numpy names both shapes
            received, expected = f"of shape {match.group(1)}", match.group(2)
        else:
            received, expected = "of another shape", str(base_observation_space(self.observation_space).shape)
        return ValueError(
            f"The environment returned an observation {received}, but its observation space has shape {expected}: "
            f"an env's observations must keep the shape of its observation_space ({error})"
        )
