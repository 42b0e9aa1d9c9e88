"""A learner process: the gradient steps of an iteration run on the second core while the episodes are collected.

Python threads cannot do this: every small torch op needs the GIL back from the env-stepping thread, and a learner
thread measured as slow as running both in turn. The learner process holds its own copy of the model and a replica
of the replay. Each iteration the main process sends the episodes it stored since the last order (the replica
applies the same ``add_episode`` calls, so both replays stay identical) and receives the new weights, optimiser
state, training RNG state and training logs. Episodes finished while the learner trains are stored once collection
ends and reach the replica with the next order, so the learner always trains on the replay as it was when the order
was sent: runs are reproducible.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import pickle
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger

if TYPE_CHECKING:
    from sb3_udrl.common.base import CommandAlgorithm


class Episode(NamedTuple):
    """A finished episode on its way to the replay (the arguments of ``EpisodicReplayBuffer.add_episode``)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    truncated: bool
    final_observation: np.ndarray | None


class TrainingOrder(NamedTuple):
    """What the main process sends for one iteration's updates."""

    episodes: list[Episode]  # stored since the previous order
    progress_remaining: float
    normalizer: Any  # the VecNormalize (pickled without its envs) or None
    rng_state: dict[str, Any]
    gradient_steps: int
    batch_size: int


class TrainingResult(NamedTuple):
    """What the learner sends back: the state of every network and optimiser, the RNG, the update count, the logs."""

    torch_state: dict[str, dict[str, Any]]
    rng_state: dict[str, Any]
    n_updates: int
    values: dict[str, Any]
    excluded: dict[str, Any]


def _learner_main(connection: Connection, algorithm_class: type, model_bytes: bytes, replay_bytes: bytes) -> None:
    """Body of the learner process: load the model, then serve training orders until ``None`` arrives."""
    th.set_num_threads(1)
    model = algorithm_class.load(io.BytesIO(model_bytes), device="cpu")
    model.replay_buffer = pickle.loads(replay_bytes)
    model.set_logger(Logger(folder=None, output_formats=[]))
    while True:
        order = connection.recv()
        if order is None:
            break
        for episode in order.episodes:
            model.replay_buffer.add_episode(*episode)
        model._current_progress_remaining = order.progress_remaining
        model._vec_normalize_env = order.normalizer
        model._train_rng.bit_generator.state = order.rng_state
        model.logger.name_to_value.clear()
        model.logger.name_to_excluded.clear()
        try:
            model.train(gradient_steps=order.gradient_steps, batch_size=order.batch_size)
        except Exception as error:  # re-raised in the main process; the learner's weights were restored
            connection.send(("error", error))
            continue
        result = TrainingResult(
            model._torch_state(),
            model._train_rng.bit_generator.state,
            model._n_updates,
            dict(model.logger.name_to_value),
            dict(model.logger.name_to_excluded),
        )
        connection.send(("ok", result))


class LearnerProcess:
    """
    Runs ``algorithm.train()`` in a separate process on a copy of the algorithm (spawned, one torch thread).

    :param algorithm: the algorithm whose current weights, optimiser state and replay the learner starts from
    """

    def __init__(self, algorithm: CommandAlgorithm) -> None:
        assert algorithm.replay_buffer is not None
        model_bytes = io.BytesIO()
        algorithm.save(model_bytes)
        context = mp.get_context("spawn")
        self._connection, child_connection = context.Pipe()
        self._process = context.Process(
            target=_learner_main,
            args=(child_connection, type(algorithm), model_bytes.getvalue(), pickle.dumps(algorithm.replay_buffer)),
            name="sb3-udrl-learner",
            daemon=True,
        )
        self._process.start()
        child_connection.close()
        self._busy = False

    def start_training(self, algorithm: CommandAlgorithm, new_episodes: list[Episode]) -> None:
        """Send one iteration's order: the episodes stored since the previous order, then train."""
        order = TrainingOrder(
            new_episodes,
            algorithm._current_progress_remaining,
            # VecNormalize pickles without its envs: only the statistics travel
            algorithm._vec_normalize_env,
            algorithm._train_rng.bit_generator.state,
            algorithm.n_updates_per_iter,
            algorithm.batch_size,
        )
        self._connection.send(order)
        self._busy = True

    def finish_training(self, algorithm: CommandAlgorithm) -> None:
        """Wait for the learner and copy its networks, optimisers, RNG state and logs into ``algorithm``."""
        self._busy = False
        try:
            answer: tuple[Any, ...] = self._connection.recv()
        except EOFError as error:
            raise RuntimeError("The learner process of overlap_training died (see its output above)") from error
        if answer[0] == "error":
            raise answer[1]
        result: TrainingResult = answer[1]
        algorithm._load_torch_state(result.torch_state)
        algorithm._train_rng.bit_generator.state = result.rng_state
        algorithm._n_updates = result.n_updates
        for key, value in result.values.items():
            algorithm.logger.record(key, value, exclude=result.excluded.get(key))

    def close(self) -> None:
        """Stop the process (waiting for a running order first)."""
        if self._busy:
            try:
                self._connection.recv()
            except EOFError:
                pass
            self._busy = False
        if self._process.is_alive():
            try:
                self._connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
        self._connection.close()
