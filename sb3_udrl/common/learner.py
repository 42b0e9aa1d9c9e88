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
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger

if TYPE_CHECKING:
    from sb3_udrl.common.base import CommandAlgorithm

Episode = tuple[np.ndarray, np.ndarray, np.ndarray, bool]


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
        episodes, progress_remaining, normalizer, rng_state, gradient_steps, batch_size = order
        for observations, actions, rewards, truncated in episodes:
            model.replay_buffer.add_episode(observations, actions, rewards, truncated=truncated)
        model._current_progress_remaining = progress_remaining
        model._vec_normalize_env = normalizer
        model._train_rng.bit_generator.state = rng_state
        model.logger.name_to_value.clear()
        model.logger.name_to_excluded.clear()
        try:
            model.train(gradient_steps=gradient_steps, batch_size=batch_size)
        except Exception as error:  # re-raised in the main process; the learner's weights were restored
            connection.send(("error", error))
            continue
        connection.send(
            (
                "ok",
                model.policy.state_dict(),
                model.policy.optimizer.state_dict(),
                model._train_rng.bit_generator.state,
                model._n_updates,
                dict(model.logger.name_to_value),
                dict(model.logger.name_to_excluded),
            )
        )


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
        normalizer = algorithm._vec_normalize_env
        order = (
            new_episodes,
            algorithm._current_progress_remaining,
            # VecNormalize pickles without its envs: only the statistics travel
            normalizer,
            algorithm._train_rng.bit_generator.state,
            algorithm.n_updates_per_iter,
            algorithm.batch_size,
        )
        self._connection.send(order)
        self._busy = True

    def finish_training(self, algorithm: CommandAlgorithm) -> None:
        """Wait for the learner and copy its weights, optimiser state, RNG state and logs into ``algorithm``."""
        self._busy = False
        try:
            answer: tuple[Any, ...] = self._connection.recv()
        except EOFError as error:
            raise RuntimeError("The learner process of overlap_training died (see its output above)") from error
        if answer[0] == "error":
            raise answer[1]
        _, policy_state, optimizer_state, rng_state, n_updates, values, excluded = answer
        algorithm.policy.load_state_dict(policy_state)
        algorithm.policy.optimizer.load_state_dict(optimizer_state)
        algorithm._train_rng.bit_generator.state = rng_state
        algorithm._n_updates = n_updates
        for key, value in values.items():
            algorithm.logger.record(key, value, exclude=excluded.get(key))

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
