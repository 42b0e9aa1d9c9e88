"""Saving and loading: the model (SB3's zip, written atomically, checked on load to hold a model of the right
algorithm) and the episodic replay (the method names of SB3's off-policy algorithms, used by rl-zoo3's
``--save-replay-buffer``)."""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import re
import warnings
import zipfile
from typing import Any, ClassVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.save_util import load_from_pkl, save_to_pkl
from stable_baselines3.common.type_aliases import GymEnv

from sb3_udrl.common.buffers import EpisodicReplayBuffer
from sb3_udrl.common.wrappers import base_observation_space


class SaveLoadMixin:
    """
    ``save``/``load`` of the model and ``save_replay_buffer``/``load_replay_buffer`` of
    :class:`~sb3_udrl.common.base.CommandAlgorithm`, which lists this class before ``BaseAlgorithm``: ``super().save``
    and ``super().load`` are SB3's. Besides the attributes below, it uses the algorithm's ``_make_replay_buffer``,
    ``_update_eval_command`` and ``_algorithm_name``.
    """

    replay_buffer: EpisodicReplayBuffer | None
    observation_space: spaces.Space
    action_space: spaces.Space
    verbose: int

    #: Attributes that files saved by earlier versions lack, with the value those versions used: ``load`` gives such a
    #: file these values (``load``'s own keyword arguments aside), where ``__init__``'s defaults, today's, would apply
    _older_file_defaults: ClassVar[dict[str, Any]] = {}

    @staticmethod
    def _write_atomically(path: str | pathlib.Path, content: bytes) -> None:
        """Write ``content`` to a temporary file in ``path``'s folder, then rename it over ``path``: a crash mid-save
        leaves the previous file intact."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: list[str] | None = None,
        include: list[str] | None = None,
    ) -> None:
        """
        Save the model (see ``BaseAlgorithm.save``). A path gets ``.zip`` appended when it has no suffix, as in SB3,
        and is written atomically: a crash during the save leaves the previous file at that path intact.

        :param path: path or file-like to write to
        :param exclude: attributes to leave out, besides the default ones
        :param include: attributes to keep although excluded by default
        """
        if not isinstance(path, (str, pathlib.Path)):
            super().save(path, exclude, include)
            return
        path = pathlib.Path(path)
        if path.suffix == "":
            path = pathlib.Path(f"{path}.zip")
        if path.is_dir():  # as SB3 does
            warnings.warn(f"Path '{path}' is a folder. Will save instead to {path}_2", stacklevel=2)
            path = pathlib.Path(f"{path}_2")
        content = io.BytesIO()
        super().save(content, exclude, include)
        self._write_atomically(path, content.getvalue())

    def _excluded_save_params(self) -> list[str]:
        # CommandAlgorithm's state of a run in progress (episodes under way, RNGs, the learner process) is not saved
        return [
            *super()._excluded_save_params(),
            "_staging",
            "_command",
            "_rng",
            "_train_rng",
            "_learner",
            "_deferred_episodes",
        ]

    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ):
        """
        Load a model saved with ``save()`` (see ``BaseAlgorithm.load``); a file that is not such a save raises
        ``ValueError`` naming the file. A file saved before an attribute of ``_older_file_defaults`` existed loads
        with the value it was trained with.

        :param path: path or file-like of the ``.zip``
        :param env: environment to continue training on (None: predict only)
        :param device: torch device
        :param custom_objects: saved attributes to replace instead of unpickling them
        :param print_system_info: print the system info stored in the file
        :param force_reset: reset the env before training again
        :param kwargs: attributes to override (e.g. hyperparameters)
        """
        saved: set[str] | None = None
        if isinstance(path, (str, pathlib.Path)):
            candidates = [pathlib.Path(path), pathlib.Path(f"{path}.zip")]
            existing = [candidate for candidate in candidates if candidate.is_file()]
            if existing and not zipfile.is_zipfile(existing[0]):
                raise ValueError(f"{existing[0]} is not a valid {cls.__name__} save file (not a zip archive)")
            if existing:
                saved = cls._check_save_file(existing[0])
        elif hasattr(path, "seekable") and path.seekable():
            saved = cls._check_save_file(path)
        if saved is not None:
            kwargs = {**{key: value for key, value in cls._older_file_defaults.items() if key not in saved}, **kwargs}
        try:
            return super().load(
                path, env, device, custom_objects, print_system_info=print_system_info, force_reset=force_reset, **kwargs
            )
        except (zipfile.BadZipFile, EOFError, KeyError) as error:
            raise ValueError(f"{path} is not a valid {cls.__name__} save file ({type(error).__name__}: {error})") from error

    @classmethod
    def _check_save_file(cls, path: pathlib.Path | io.BufferedIOBase) -> set[str]:
        """The attributes the save file ``path`` holds; ``ValueError`` naming ``path`` and what it holds if it is not a
        save of ``cls``."""
        position = None if isinstance(path, pathlib.Path) else path.tell()
        try:
            with zipfile.ZipFile(path) as archive:
                data = json.loads(archive.read("data"))
        except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as error:
            raise ValueError(f"{path} is not a valid {cls.__name__} save file ({type(error).__name__}: {error})") from error
        finally:
            if position is not None:
                path.seek(position)  # type: ignore[union-attr]
        saved_by = data.get("_algorithm")
        if saved_by is None:
            policy = data.get("policy_class", {})
            match = re.search(r"function (\w+)\.__init__", str(policy.get("__init__", "")))
            policy_name = f"{policy.get('__module__', '?')}.{match.group(1) if match else '?'}"
            if policy_name.startswith("sb3_udrl.") and cls._algorithm_name() == "UDRL":
                return set(data)  # a UDRL save from before the algorithm was recorded
            raise ValueError(f"{path} is not a {cls.__name__} save file: it holds a model with the policy {policy_name}")
        if saved_by != cls._algorithm_name():
            raise ValueError(f"{path} holds a {saved_by} model, not a {cls.__name__} one: load it with {saved_by}.load()")
        return set(data)

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Save the episodic replay (pickled) to ``path`` (``.pkl`` appended without a suffix), written atomically.

        :param path: file or file-like
        """
        if self.replay_buffer is None:
            raise ValueError("There is no replay buffer to save: call learn() first")
        if not isinstance(path, (str, pathlib.Path)):
            save_to_pkl(path, self.replay_buffer, self.verbose)
            return
        path = pathlib.Path(path)
        if path.suffix == "":
            path = pathlib.Path(f"{path}.pkl")
        content = io.BytesIO()
        save_to_pkl(content, self.replay_buffer, self.verbose)
        self._write_atomically(path, content.getvalue())

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """
        Load a replay saved by :meth:`save_replay_buffer`.

        :param path: file or file-like
        :param truncate_last_traj: accepted for compatibility with SB3; the replay only holds finished episodes
        """
        del truncate_last_traj
        try:
            buffer = load_from_pkl(path, self.verbose)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, OverflowError) as error:
            # A half-written or damaged file; the model's replay is left as it was
            raise ValueError(
                f"{path} is truncated or corrupt, not a complete replay saved by save_replay_buffer() "
                f"({type(error).__name__}: {error}); the model's replay is unchanged"
            ) from error
        if not isinstance(buffer, EpisodicReplayBuffer):
            raise TypeError(f"{path} does not hold an EpisodicReplayBuffer but a {type(buffer).__name__}")
        expected = base_observation_space(self.observation_space)
        if buffer.obs_shape != expected.shape or buffer.action_space != self.action_space:
            raise ValueError(
                f"The replay in {path} was made for observations {buffer.obs_shape} and actions {buffer.action_space}, "
                f"not {expected.shape} and {self.action_space}"
            )
        # The model must never say one thing and do another: the replay's own settings must be the model's
        wanted = self._make_replay_buffer(initial_capacity=1)
        found = (type(buffer).__name__, buffer.buffer_size, buffer.n_recent)
        settings = (type(wanted).__name__, wanted.buffer_size, wanted.n_recent)
        if found != settings:
            raise ValueError(
                f"The replay in {path} is a {found[0]} of size {found[1]} keeping {found[2]} recent episodes; this model's "
                f"settings make a {settings[0]} of size {settings[1]} keeping {settings[2]}: load the model with the "
                "settings the replay was saved with (e.g. load(path, replay_size=...)), or train without the replay"
            )
        self.replay_buffer = buffer
        self._update_eval_command()
