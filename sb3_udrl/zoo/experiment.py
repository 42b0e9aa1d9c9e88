"""rl-zoo3's ``ExperimentManager`` with what a replay-based run needs to resume after a crash.

rl-zoo3's checkpoints (``--save-freq``) hold the model only, and ``-i`` looks for ``replay_buffer.pkl``, which a run
writes at its end: a run killed mid-way resumed from its last checkpoint with an empty replay and started again from
random warm-up episodes. With ``--save-replay-buffer``, :class:`ResumableExperimentManager` saves the replay with each
checkpoint (``rl_model_replay_buffer_{steps}_steps.pkl``, SB3's ``CheckpointCallback`` naming; only the latest one is
kept, since a replay can weigh tens of MB), and ``-i logs/.../rl_model_{steps}_steps.zip`` loads that replay.
"""

from __future__ import annotations

import os
import re
from typing import Any

from rl_zoo3.exp_manager import ExperimentManager
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CheckpointCallback
from stable_baselines3.common.vec_env import VecEnv

_CHECKPOINT = re.compile(r"^(?P<prefix>.+)_(?P<steps>\d+)_steps\.zip$")


def checkpoint_replay_path(model_path: str) -> str | None:
    """The replay file saved with the checkpoint ``model_path`` (``{prefix}_{steps}_steps.zip``), or None if
    ``model_path`` is not a checkpoint.

    :param model_path: path of a saved model
    """
    match = _CHECKPOINT.match(os.path.basename(model_path))
    if match is None:
        return None
    return os.path.join(os.path.dirname(model_path), f"{match['prefix']}_replay_buffer_{match['steps']}_steps.pkl")


class ReplayCheckpointCallback(CheckpointCallback):
    """``CheckpointCallback`` that saves the replay with every checkpoint and deletes the previous replay file."""

    def _on_step(self) -> bool:
        saving = self.n_calls % self.save_freq == 0
        previous = getattr(self, "_last_replay_path", None)
        keep_going = super()._on_step()
        if saving:
            self._last_replay_path = self._checkpoint_path("replay_buffer_", extension="pkl")
            if previous is not None and previous != self._last_replay_path and os.path.exists(previous):
                os.remove(previous)
        return keep_going


class ResumableExperimentManager(ExperimentManager):
    """``ExperimentManager`` whose checkpoints carry the replay (``--save-replay-buffer``) and whose ``-i`` loads the
    replay of the checkpoint it resumes from."""

    def create_callbacks(self) -> None:
        super().create_callbacks()
        if not self.save_replay_buffer:
            return
        for index, callback in enumerate(self.callbacks):
            if type(callback) is CheckpointCallback:
                self.callbacks[index] = ReplayCheckpointCallback(
                    save_freq=callback.save_freq,
                    save_path=callback.save_path,
                    name_prefix=callback.name_prefix,
                    save_replay_buffer=True,
                    save_vecnormalize=callback.save_vecnormalize,
                    verbose=callback.verbose,
                )

    def _load_pretrained_agent(self, hyperparams: dict[str, Any], env: VecEnv) -> BaseAlgorithm:
        model = super()._load_pretrained_agent(hyperparams, env)
        replay_path = checkpoint_replay_path(self.trained_agent)
        if replay_path is not None and os.path.exists(replay_path):
            print(f"Loading the replay buffer of the checkpoint: {replay_path}")
            model.load_replay_buffer(replay_path)  # type: ignore[attr-defined]
        return model
