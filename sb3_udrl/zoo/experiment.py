"""rl-zoo3's ``ExperimentManager`` with what a replay-based run needs to resume after a crash.

rl-zoo3's checkpoints (``--save-freq``) hold the model only, and ``-i`` looks for ``replay_buffer.pkl``, which a run
writes at its end: a run killed mid-way resumed from its last checkpoint with an empty replay and started again from
random warm-up episodes. With ``--save-replay-buffer``, :class:`ResumableExperimentManager` saves the replay with each
checkpoint (``rl_model_replay_buffer_{steps}_steps.pkl``, SB3's ``CheckpointCallback`` naming; only the latest one is
kept, since a replay can weigh tens of MB), and ``-i logs/.../rl_model_{steps}_steps.zip`` loads that replay.

rl-zoo3 names a run's folder ``{env}_{latest id + 1}`` from a listing of the log folder and creates it later with
``os.makedirs(exist_ok=True)``: two trainings started together into the same ``-f`` (two seeds in parallel) got the
same id and wrote into one folder. :class:`ResumableExperimentManager` claims the folder atomically instead
(:func:`claim_run_folder`), so that each run gets its own.
"""

from __future__ import annotations

import inspect
import os
import re
from typing import Any

from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.utils import get_latest_run_id
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


def claim_run_folder(log_path: str, env_name: str, suffix: str = "") -> str:
    """Create and return the run folder ``{log_path}/{env_name}_{id}{suffix}``, ``id`` being the next one after the
    latest in ``log_path`` (as rl-zoo3 picks it), or the first free one after it if another process claims that one
    first: ``os.mkdir`` either creates the folder or fails, so two processes never get the same folder.

    :param log_path: the folder of the runs of one algorithm (``{log_folder}/{algo}/``), created if missing
    :param env_name: the env id (rl-zoo3's ``EnvironmentName``)
    :param suffix: what follows the id in the name (rl-zoo3's ``--uuid`` string, ``""`` without it)
    """
    os.makedirs(log_path, exist_ok=True)
    run_id = get_latest_run_id(log_path, env_name) + 1
    while True:
        path = os.path.join(log_path, f"{env_name}_{run_id}{suffix}")
        try:
            os.mkdir(path)
        except FileExistsError:
            run_id += 1
        else:
            return path


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
    """``ExperimentManager`` whose checkpoints carry the replay (``--save-replay-buffer``), whose ``-i`` loads the
    replay of the checkpoint it resumes from, and whose run folder is claimed atomically (:func:`claim_run_folder`)
    when rl-zoo3 first creates it (``create_log_folder``, at the start of ``setup_experiment``, also with
    ``-optimize``), so that trainings started together into the same log folder never share a run folder.

    The run folder is claimed only when it is rl-zoo3's numbered one: a subclass that sets ``save_path`` itself (after
    ``__init__``) gets that folder, created as rl-zoo3 creates it, and no numbered folder is made.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bound = inspect.signature(ExperimentManager.__init__).bind(self, *args, **kwargs)
        self._uuid_str: str = bound.arguments.get("uuid_str", "")
        # save_path is rl-zoo3's provisional {env}_{latest + 1}: claimed in create_log_folder unless set again
        self._claim_save_path = True

    @property
    def save_path(self) -> str:
        """The run folder (rl-zoo3's attribute); setting it turns off the claim of a numbered folder."""
        return self._save_path

    @save_path.setter
    def save_path(self, value: str) -> None:
        self._save_path = value
        self._claim_save_path = False

    def create_log_folder(self) -> None:
        if self._claim_save_path:
            self.save_path = claim_run_folder(self.log_path, self.env_name, self._uuid_str)
            self.params_path = f"{self.save_path}/{self.env_name}"
        super().create_log_folder()  # os.makedirs(params_path, exist_ok=True): inside the claimed folder

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

    def _preprocess_hyperparams(self, hyperparams: dict[str, Any]) -> tuple:
        # mirror / action_holds named by dotted path in the YAML entry (sb3_udrl.envs): made into objects here
        from sb3_udrl.zoo import resolve_objects

        return super()._preprocess_hyperparams(resolve_objects(hyperparams))
