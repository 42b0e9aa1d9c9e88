"""A learner process: the gradient steps of an iteration run on the second core while the episodes are collected.

Python threads cannot do this: every small torch op needs the GIL back from the env-stepping thread, and a learner
thread measured as slow as running both in turn. The learner process holds its own copy of the model and maps the
replay's per-step arrays, which the main process keeps in shared memory (``EpisodicReplayBuffer.share``): the
replay's memory is taken once, not once per process. Each order carries the rest of the replay (its episode table)
and the file descriptors of arrays the learner has not mapped yet; the answer brings the new weights, optimiser
state, training RNG state and training logs. The main process writes into the replay only while the learner is
idle: episodes finished while it trains are stored once it has answered, so the learner always trains on the replay
as it was when the order was sent, and runs are reproducible.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import pickle
import time
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecNormalize

from sb3_udrl.common.buffers import EpisodicReplayBuffer, SharedReplay, map_shared

if TYPE_CHECKING:
    from sb3_udrl.common.base import CommandAlgorithm


class Episode(NamedTuple):
    """A finished episode on its way to the replay (the arguments of ``EpisodicReplayBuffer.add_episode``)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    truncated: bool
    final_observation: np.ndarray | None


class TrainingState(NamedTuple):
    """What the learner's copy of the algorithm takes from the main process for one iteration's updates
    (``CommandAlgorithm._training_state``)."""

    progress_remaining: float  # of the learning-rate schedule
    normalizer: VecNormalize | None  # pickled without its envs: only the statistics travel
    rng_state: dict[str, Any]  # of the training RNG (mini-batches, mirroring)
    gradient_steps: int
    batch_size: int


class TrainingOrder(NamedTuple):
    """What the main process sends for one iteration's updates; the file descriptors of ``new_arrays`` follow it
    (``send_handle``), in that order."""

    replay: SharedReplay  # without its file descriptors
    new_arrays: list[tuple[int, int]]  # keys of the arrays the learner has not mapped yet
    state: TrainingState


class TrainingResult(NamedTuple):
    """What the learner sends back (``CommandAlgorithm._train_from_state``): the state of every network and
    optimiser, the RNG, the update count, the logs."""

    torch_state: dict[str, dict[str, Any]]
    rng_state: dict[str, Any]
    n_updates: int
    values: dict[str, Any]
    excluded: dict[str, Any]


def _learner_main(connection: Connection, algorithm_class: type, device: str) -> None:
    """Body of the learner process: receive the model (loaded on ``device``) and the replay, then serve training
    orders until ``None`` arrives."""
    th.set_num_threads(1)
    model = algorithm_class.load(io.BytesIO(connection.recv_bytes()), device=device)
    model.set_logger(Logger(folder=None, output_formats=[]))
    mapped: dict[tuple[int, int], np.ndarray] = {}  # the replay's arrays by key
    while True:
        order = connection.recv()
        if order is None:
            break
        layout = {key: (shape, dtype) for key, shape, dtype in order.replay.arrays.values()}
        for key in order.new_arrays:
            mapped[key] = map_shared(recv_handle(connection), *layout[key])
        mapped = {key: array for key, array in mapped.items() if key in layout}  # unmaps the arrays a growth replaced
        model.replay_buffer = EpisodicReplayBuffer.from_shared(order.replay, mapped)
        try:
            result = model._train_from_state(order.state)
        except Exception as error:  # re-raised in the main process; the learner's weights were restored
            _send(connection, ("error", error))
            continue
        _send(connection, ("ok", result))


def _send(connection: Connection, answer: tuple[str, Any]) -> None:
    """Send an answer pickled with the plain pickler. ``Connection.send`` uses multiprocessing's pickler, for which
    torch moves tensors into shared memory: the main process's optimiser state would then alias the learner's, which
    the next order updates in place while the main process saves or acts."""
    connection.send_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


class LearnerProcess:
    """
    Runs ``algorithm.train()`` in a separate process on a copy of the algorithm (spawned, one torch thread, on the
    algorithm's device).

    Besides its public ``save()``, ``replay_buffer`` and ``device``, the learner reads and writes the algorithm through
    three methods only: ``_training_state()`` (main process, for each order), ``_train_from_state(state)`` (learner
    process) and ``_apply_training_result(result)`` (main process).

    A learner that dies, or that sends no answer within ``timeout`` seconds of an order, raises ``RuntimeError`` in
    the main process (the process is stopped; the main process keeps the weights of the previous iteration).

    :param algorithm: the algorithm whose current weights, optimiser state and replay the learner starts from
    :param timeout: seconds to wait for one iteration's updates before the learner is declared hung
    """

    def __init__(self, algorithm: CommandAlgorithm, timeout: float = 600.0) -> None:
        self.timeout = timeout
        assert algorithm.replay_buffer is not None
        algorithm.replay_buffer.share()  # before the process starts: MemoryError where shared memory has no room
        model_bytes = io.BytesIO()
        algorithm.save(model_bytes)
        context = mp.get_context("spawn")
        self._connection, child_connection = context.Pipe()
        self._process = context.Process(
            target=_learner_main,
            # the model's device: updates on a GPU stay on it
            args=(child_connection, type(algorithm), str(algorithm.device)),
            name="sb3-udrl-learner",
            daemon=True,
        )
        self._process.start()
        child_connection.close()
        self._busy = False
        self._answered = False  # whether it ever sent an answer
        self._mapped: set[tuple[int, int]] = set()  # keys of the replay arrays the learner maps
        # The model goes through the connection, not the process's arguments: multiprocessing writes those into a
        # pipe whose reading end the parent also holds until it is done, so a child that dies while starting (a
        # script without the __main__ guard) would leave the parent blocked forever on a large model.
        try:
            self._connection.send_bytes(model_bytes.getvalue())
        except OSError as error:  # BrokenPipeError, ConnectionResetError: the process is gone
            self._fail(f"died while starting ({type(error).__name__})", error)  # names the __main__ guard

    def start_training(self, algorithm: CommandAlgorithm) -> None:
        """Send one iteration's order: train on the replay as it is now. ``algorithm`` must not write into its replay
        until :meth:`finish_training` (or :meth:`stop`) returns."""
        assert algorithm.replay_buffer is not None
        replay = algorithm.replay_buffer.shared()
        new_arrays = [key for key in replay.fds if key not in self._mapped]
        order = TrainingOrder(replay._replace(fds={}), new_arrays, algorithm._training_state())
        try:
            self._connection.send(order)
            for key in new_arrays:
                send_handle(self._connection, replay.fds[key], self._process.pid)
            self._mapped = set(replay.fds)
        except OSError as error:  # BrokenPipeError, ConnectionResetError: the process is gone
            self._fail(f"could not be sent an order ({type(error).__name__})", error)
        self._busy = True

    def _fail(self, what: str, error: BaseException | None = None) -> None:
        self._busy = False
        self._stop()
        message = f"The learner process of overlap_training {what}; see its output above. "
        if not self._answered:
            message += (
                "Where it says 'An attempt has been made to start a new process before the current process has "
                "finished its bootstrapping phase', put the script's training code under `if __name__ == \"__main__\":`. "
            )
        raise RuntimeError(message + "The model keeps the weights of the previous iteration.") from error

    def finish_training(self, algorithm: CommandAlgorithm) -> None:
        """Wait for the learner and copy its networks, optimisers, RNG state and logs into ``algorithm``."""
        deadline = time.monotonic() + self.timeout
        while not self._connection.poll(0.2):
            if not self._process.is_alive():
                self._fail(f"died (exit code {self._process.exitcode})")
            if time.monotonic() > deadline:
                self._fail(f"sent no answer within {self.timeout:.0f} s (hung) and was stopped")
        try:
            answer: tuple[Any, ...] = pickle.loads(self._connection.recv_bytes())
        except (EOFError, OSError) as error:
            self._fail(f"died ({type(error).__name__})", error)
        self._busy, self._answered = False, True
        if answer[0] == "error":
            raise answer[1]
        algorithm._apply_training_result(answer[1])

    def stop(self) -> None:
        """Stop the process at once, dropping an order in flight."""
        self._busy = False
        self._stop()

    def _stop(self) -> None:
        if self._connection.closed:
            return
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
        self._connection.close()

    def close(self) -> None:
        """Stop the process (waiting for a running order first, at most ``timeout`` seconds)."""
        if self._connection.closed:
            return
        if self._busy:
            self._busy = False
            if not self._connection.poll(self.timeout) or not self._process.is_alive():
                self._stop()
                return
            try:
                self._connection.recv_bytes()
            except (EOFError, OSError):
                pass
        if self._process.is_alive():
            try:
                self._connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
        self._connection.close()
