"""Episodic storage shared by the reward-conditioned algorithms.

Whole episodes live in flat, preallocated NumPy arrays (one row per step) with a small table of
``(start, length, return)`` per kept episode, so a training batch is a handful of array look-ups
(no per-sample Python loop). Which episodes are kept is the only thing that differs between the
algorithms: :class:`EpisodicReplayBuffer` keeps the ``buffer_size`` episodes with the highest return (UDRL paper,
section 2.3.1), optionally together with the ``n_recent`` most recent ones; :class:`RecentReplayBuffer` keeps the most
recent ``buffer_size`` steps (the FIFO of the RCP and AWR code). Both are sampled the same way.

Observations that are stacks of the last frames (``frame_stack``) keep each frame once: an episode's rows hold the
newest frame of each step, after ``frame_stack - 1`` rows with the older frames of its first observation, and a step's
observation is its row and the rows before it.
"""

from __future__ import annotations

import math
import mmap
import os
import tempfile
import weakref
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

GiB = 2**30


def available_memory() -> int | None:
    """Bytes of memory available for new allocations (``MemAvailable`` of ``/proc/meminfo``); None where unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def _shared_dir(nbytes: int) -> str:
    """Where a shared block of ``nbytes`` goes: ``/dev/shm`` (memory) where it has room, else the temp directory (a
    file the kernel pages to disk), as ``multiprocessing.heap.Arena`` chooses."""
    for directory in ("/dev/shm", tempfile.gettempdir()):
        try:
            stat = os.statvfs(directory)
        except (OSError, AttributeError):
            continue
        if stat.f_bavail * stat.f_frsize >= nbytes:
            return directory
    raise MemoryError(
        f"No room for {nbytes / GiB:.2f} GiB of replay shared with overlap_training's learner process (in /dev/shm "
        f"or {tempfile.gettempdir()}): keep fewer steps, give /dev/shm more room (docker run --shm-size), or turn "
        "overlap_training off."
    )


def shared_zeros(shape: tuple[int, ...], dtype: np.dtype | type) -> tuple[np.ndarray, int]:
    """
    A zero-filled array in memory that another process maps too (``overlap_training``'s learner), and the file
    descriptor that process maps it by (:func:`map_shared`; closed with the array). The file is unlinked at once: the
    memory goes with the last process that maps it, even after a crash.

    :param shape: shape of the array
    :param dtype: its dtype
    :return: the array and its file descriptor
    """
    nbytes = _nbytes(shape, dtype)
    fd, path = tempfile.mkstemp(prefix="sb3-udrl-replay-", dir=_shared_dir(nbytes))
    try:
        os.unlink(path)
        os.ftruncate(fd, nbytes)
        array = _map(fd, shape, dtype)
    except BaseException:
        os.close(fd)
        raise
    weakref.finalize(array, os.close, fd)
    return array, fd


def map_shared(fd: int, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """The array of :func:`shared_zeros` in another process, from a duplicate of its file descriptor (closed here:
    the mapping stays until the array is gone).

    :param fd: the file descriptor received (``multiprocessing.reduction.recv_handle``)
    :param shape: shape of the array
    :param dtype: its dtype
    """
    try:
        return _map(fd, shape, dtype)
    finally:
        os.close(fd)


def _nbytes(shape: tuple[int, ...], dtype: np.dtype | type) -> int:
    return max(1, math.prod(shape) * np.dtype(dtype).itemsize)  # mmap cannot map 0 bytes


def _map(fd: int, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """The array of ``shape`` over the memory of ``fd`` (mapped shared; unmapped when the array is gone)."""
    return np.frombuffer(mmap.mmap(fd, _nbytes(shape, dtype)), dtype=dtype, count=math.prod(shape)).reshape(shape)


class SharedReplay(NamedTuple):
    """A replay in shared memory as another process rebuilds it (:meth:`EpisodicReplayBuffer.shared`): everything
    but the per-step arrays pickled, and the arrays' file descriptors, keyed by ``(st_dev, st_ino)``."""

    cls: type
    state: dict[str, Any]  # the pickled state without the per-step arrays
    arrays: dict[str, tuple[tuple[int, int], tuple[int, ...], np.dtype]]  # name: (key, shape, dtype)
    fds: dict[tuple[int, int], int]  # key: file descriptor (of this process: send it with send_handle)


def vec_env_time_limit(env: VecEnv) -> int | None:
    """The time limit of ``env``'s episodes (``spec.max_episode_steps``, a ``TimeLimit`` wrapper's included), or None."""
    try:
        specs = env.get_attr("spec")
    except AttributeError:
        return None
    limits = [getattr(spec, "max_episode_steps", None) for spec in specs]
    return None if not limits or None in limits else int(max(limits))


def check_replay_fits(buffer: EpisodicReplayBuffer, max_episode_steps: int | None) -> None:
    """
    Raise ``ValueError`` saying why where the most the replay can come to hold (episodes of ``max_episode_steps``)
    exceeds the memory available now. Without a time limit UDRL's replay has no bound
    (its growth is checked instead, :meth:`EpisodicReplayBuffer._check_growth`).

    :param buffer: the replay, as allocated now
    :param max_episode_steps: the env's time limit (None: none)
    """
    needed, available = buffer.max_nbytes(max_episode_steps), available_memory()
    if needed is None or available is None or needed - buffer.nbytes <= available:
        return
    kept = (
        f"{buffer.buffer_size:,} steps"
        if isinstance(buffer, RecentReplayBuffer)
        else (f"{buffer.buffer_size + buffer.n_recent:,} episodes of up to {max_episode_steps:,} steps")
    )
    raise ValueError(
        f"The replay can come to hold {buffer.max_steps(max_episode_steps):,} steps ({kept}) of {buffer.obs_shape} "
        f"{np.dtype(buffer.observations.dtype).name} observations: {needed / GiB:.2f} GiB, but {available / GiB:.2f} GiB "
        "of memory are available. Keep fewer steps (buffer_size, or replay_size and recent_episodes for UDRL) or use "
        "smaller observations."
    )


class CommandSamples(NamedTuple):
    """A batch of steps drawn for hindsight relabelling (UDRL paper, section 2.3.3), before the condition relabels them.

    :param observations: ``s_t1``, shape ``(batch, *obs_shape)``
    :param actions: ``a_t1``, shape ``(batch, *action_shape)``
    :param returns_to_go: ``sum_{t=t1}^{T-1} r_t``, shape ``(batch,)``
    :param steps_to_go: ``T - t1``, shape ``(batch,)``
    :param episode_returns: return of the whole episode the sample comes from, shape ``(batch,)``
    :param rows: rows of the samples in the buffer's per-step arrays (to look up per-step values), shape ``(batch,)``
    """

    observations: np.ndarray
    actions: np.ndarray
    returns_to_go: np.ndarray
    steps_to_go: np.ndarray
    episode_returns: np.ndarray
    rows: np.ndarray


def _action_storage(action_space: spaces.Space) -> tuple[tuple[int, ...], type]:
    if isinstance(action_space, spaces.Discrete):
        return (), np.int64
    if isinstance(action_space, spaces.Box):
        return action_space.shape, np.float32
    raise TypeError(f"Episodic buffers support Discrete and Box action spaces, got {action_space}")


class EpisodicReplayBuffer:
    """
    Replay of whole episodes that keeps the ``buffer_size`` episodes with the highest return, plus the ``n_recent``
    most recent episodes whatever their return.

    With ``n_recent=0`` this is the paper's replay (section 2.3.1): a new episode worse than every kept one is
    dropped. With ``n_recent > 0`` an episode always enters and competes on return only once ``n_recent`` newer
    episodes have arrived, so the replay keeps following the agent even when its best episodes are far above what
    it now achieves (see ``UDRL(recent_episodes=...)``).

    Steps are appended to flat arrays; evicted episodes leave holes that are compacted away when the
    arrays are full (amortised O(1) per step), and the arrays grow when the kept episodes need more
    room, so episode lengths need not be known in advance. Subclasses choose which episodes are kept
    (:meth:`_make_room`).

    :param buffer_size: number of best episodes kept (``replay_size`` in the paper)
    :param observation_space: space of the (unnormalised) observations stored
    :param action_space: action space (Discrete or Box)
    :param initial_capacity: number of steps allocated at first; grows as needed (None: 65,536 steps or 64 MiB,
        whichever is fewer)
    :param n_recent: number of most recent episodes kept besides the best ones
    :param frame_stack: the observations are stacks of the last ``frame_stack`` frames along their first axis, newest
        last, as the policy sees them (``FrameStackObservation`` or ``VecFrameStack`` images, channel first): each
        frame is stored once, in ``1 / frame_stack`` of the memory (checked on every episode offered)
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        initial_capacity: int | None = None,
        n_recent: int = 0,
        frame_stack: int = 1,
    ) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        if n_recent < 0:
            raise ValueError(f"n_recent must be >= 0, got {n_recent}")
        self.buffer_size = buffer_size
        self.n_recent = n_recent
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_shape = observation_space.shape
        if not isinstance(frame_stack, (int, np.integer)) or isinstance(frame_stack, bool) or frame_stack < 1:
            raise ValueError(f"frame_stack must be an integer >= 1, got {frame_stack!r}")
        if frame_stack > 1 and (not self.obs_shape or self.obs_shape[0] % frame_stack):
            raise ValueError(
                f"frame_stack={frame_stack} must divide the first axis of the observations (frames stacked along it), "
                f"got observations of shape {self.obs_shape}"
            )
        self.frame_stack = int(frame_stack)
        # One row per step holds one frame: the whole observation without stacking
        self.frame_shape = self.obs_shape if frame_stack == 1 else (self.obs_shape[0] // frame_stack, *self.obs_shape[1:])
        self.action_shape, action_dtype = _action_storage(action_space)
        self.bytes_per_step = (  # bytes per row
            int(np.prod(self.frame_shape)) * np.dtype(observation_space.dtype).itemsize
            + int(np.prod(self.action_shape)) * np.dtype(action_dtype).itemsize
            + 2 * np.dtype(np.float32).itemsize  # reward, return-to-go
        )
        if initial_capacity is None:
            initial_capacity = self._default_capacity()
        capacity = max(int(initial_capacity), 1)
        # Per-step storage (in shared memory once share() was called: the file descriptor of each array)
        self._fds: dict[str, int] | None = None
        self.observations = np.zeros((capacity, *self.frame_shape), dtype=observation_space.dtype)
        self.actions = np.zeros((capacity, *self.action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.returns_to_go = np.zeros(capacity, dtype=np.float32)
        self.pos = 0  # first free row
        # Per-episode table of the kept episodes (rows 0..n_episodes-1, unordered); grows as needed
        table_size = self._initial_table_size()
        self.ep_start = np.zeros(table_size, dtype=np.int64)
        self.ep_length = np.zeros(table_size, dtype=np.int64)
        self.ep_return = np.zeros(table_size, dtype=np.float64)
        self.ep_truncated = np.zeros(table_size, dtype=bool)
        self.ep_id = np.zeros(table_size, dtype=np.int64)  # arrival order (n_added when offered)
        # Observation after the last step (bootstrapping a time-limit cut); zeros where none was given
        self.ep_final_obs = np.zeros((table_size, *self.obs_shape), dtype=observation_space.dtype)
        self.n_episodes = 0
        self.n_added = 0  # episodes ever offered, kept or not

    _TABLES = ("ep_start", "ep_length", "ep_return", "ep_truncated", "ep_id", "ep_final_obs")

    def __getstate__(self) -> dict:
        """Pickle the rows in use only (``pos`` of ``capacity`` steps, ``n_episodes`` of the episode table);
        :meth:`__setstate__` allocates the rest again."""
        state = self.__dict__.copy()
        state.pop("_fds", None)  # a copy is private memory
        state["capacity"], state["table_size"] = self.capacity, len(self.ep_start)
        for name in self._STEP_ARRAYS:
            state[name] = getattr(self, name)[: self.pos]
        for name in self._TABLES:
            if name in state:  # (a replay unpickled from an earlier version may lack one until it is set)
                state[name] = state[name][: self.n_episodes]
        return state

    def __setstate__(self, state: dict) -> None:
        """Unpickle: allocate the saved capacity again; add what replays saved by earlier versions lack (final
        observations: zeros, ``bytes_per_step``) and drop what they hold that is gone (``truncated_recent_only``, of
        the removed ``store_truncated="recent"``)."""
        capacity, table_size = state.pop("capacity", 0), state.pop("table_size", 0)
        self._fds = None
        self.__dict__.update(state)
        self.__dict__.pop("truncated_recent_only", None)  # an option of earlier versions, removed
        if "ep_final_obs" not in state:
            self.ep_final_obs = np.zeros((len(self.ep_start), *self.obs_shape), dtype=self.observations.dtype)
        for names, size in ((self._STEP_ARRAYS, capacity), (self._TABLES, table_size)):
            for name in names:
                used = getattr(self, name)
                if size > len(used):
                    full = np.zeros((size, *used.shape[1:]), dtype=used.dtype)
                    full[: len(used)] = used
                    setattr(self, name, full)
        if "bytes_per_step" not in state:
            self.bytes_per_step = sum(getattr(self, name)[:1].nbytes for name in self._STEP_ARRAYS)
        if "frame_stack" not in state:  # saved before frame_stack existed
            self.frame_stack, self.frame_shape = 1, self.obs_shape

    # ------------------------------------------------------------------------------------------------------------
    # Shared memory (overlap_training): the learner process maps the per-step arrays instead of keeping a replica
    def share(self) -> None:
        """Move the per-step arrays into shared memory (:func:`shared_zeros`; a copy of the rows in use, so best done
        while the replay is empty); growths stay there. Pickled copies (``save_replay_buffer``) are private memory."""
        if self._fds is not None:
            return
        arrays, fds = {}, {}
        for name in self._STEP_ARRAYS:  # all or nothing: MemoryError leaves the replay as it was
            old = getattr(self, name)
            arrays[name], fds[name] = shared_zeros(old.shape, old.dtype)
            arrays[name][: self.pos] = old[: self.pos]
        self.__dict__.update(arrays)
        self._fds = fds

    def _zeros(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A new per-step array ``name``: in shared memory once :meth:`share` was called."""
        if self._fds is None:
            return np.zeros(shape, dtype=dtype)
        array, self._fds[name] = shared_zeros(shape, dtype)
        return array

    def shared(self) -> SharedReplay:
        """This replay as another process rebuilds it with :meth:`from_shared` (after :meth:`share`); valid until the
        replay next changes."""
        assert self._fds is not None, "share() first"
        state = self.__getstate__()
        arrays, fds = {}, {}
        for name in self._STEP_ARRAYS:
            state.pop(name)
            array, fd = getattr(self, name), self._fds[name]
            stat = os.fstat(fd)
            key = (stat.st_dev, stat.st_ino)
            arrays[name], fds[key] = (key, array.shape, array.dtype), fd
        return SharedReplay(type(self), state, arrays, fds)

    @staticmethod
    def from_shared(shared: SharedReplay, mapped: dict[tuple[int, int], np.ndarray]) -> EpisodicReplayBuffer:
        """
        The replay of :meth:`shared` over the arrays mapped in this process (read-only use: the process that shared
        it writes).

        :param shared: what :meth:`shared` returned (its file descriptors are the other process's)
        :param mapped: the arrays by key (:func:`map_shared` of each received file descriptor)
        """
        state = dict(shared.state)
        for name, (key, _, _) in shared.arrays.items():
            state[name] = mapped[key]
        buffer = shared.cls.__new__(shared.cls)
        buffer.__setstate__(state)
        return buffer

    _STEP_ARRAYS = ("observations", "actions", "rewards", "returns_to_go")

    def _default_capacity(self) -> int:
        return min(65_536, max(1024, 64 * 2**20 // self.bytes_per_step))  # 3 MB of LunarLander, 64 MiB of images

    def _initial_table_size(self) -> int:
        return min(self.buffer_size + self.n_recent, 1024)  # grows as needed: a huge buffer_size allocates nothing

    @property
    def capacity(self) -> int:
        return len(self.rewards)

    @property
    def nbytes(self) -> int:
        """Bytes of the per-step arrays as allocated now."""
        return self.capacity * self.bytes_per_step

    @property
    def _pad(self) -> int:
        """Rows before each episode's first step: the older frames of its first observation (``frame_stack - 1``)."""
        return self.frame_stack - 1

    def max_steps(self, max_episode_steps: int | None) -> int | None:
        """
        Most steps the replay can come to hold: ``buffer_size + n_recent`` episodes of at most ``max_episode_steps``
        (None where episodes have no bound).

        :param max_episode_steps: the env's time limit (None: none)
        """
        return None if max_episode_steps is None else (self.buffer_size + self.n_recent) * max_episode_steps

    def _max_rows(self, max_episode_steps: int | None) -> int | None:
        """Most rows :meth:`max_steps` can take: each kept episode also takes ``_pad`` rows."""
        steps = self.max_steps(max_episode_steps)
        return None if steps is None else steps + (self.buffer_size + self.n_recent) * self._pad

    def max_nbytes(self, max_episode_steps: int | None) -> int | None:
        """
        Bytes the per-step arrays can come to take (the capacity, doubled from the initial one, that holds
        :meth:`max_steps`), or None where episodes have no bound.

        :param max_episode_steps: the env's time limit (None: none)
        """
        rows = self._max_rows(max_episode_steps)
        if rows is None:
            return None
        capacity = self.capacity
        while capacity < rows:
            capacity *= 2
        return capacity * self.bytes_per_step

    @property
    def n_steps(self) -> int:
        """Steps in the kept episodes."""
        return int(self.ep_length[: self.n_episodes].sum())

    def recent_mask(self) -> np.ndarray:
        """Boolean mask over the kept episodes: True for the ``n_recent`` most recent ones."""
        return self.ep_id[: self.n_episodes] >= self.n_added - self.n_recent

    def _make_room(self, episode_return: float, length: int) -> bool:
        """
        Evict what a new episode displaces; return whether it is kept. Here: while ``buffer_size + n_recent``
        episodes are kept, the worst one outside the recent window goes (the paper: unless the new one is worse).
        """
        if self.n_episodes < self.buffer_size + self.n_recent:
            return True
        # Eviction candidates: kept episodes outside the recent window once this one has arrived
        older = np.flatnonzero(self.ep_id[: self.n_episodes] < self.n_added - self.n_recent)
        worst = int(older[np.argmin(self.ep_return[older])])
        if self.n_recent == 0 and episode_return <= self.ep_return[worst]:
            return False  # the paper's rule: worse than every kept episode
        self._remove(worst)
        return True

    def add_episode(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        truncated: bool = False,
        final_observation: np.ndarray | None = None,
    ) -> bool:
        """
        Offer one finished episode; :meth:`_make_room` decides whether it is kept and what it displaces.

        :param observations: ``(T, *obs_shape)``
        :param actions: ``(T, *action_shape)``
        :param rewards: ``(T,)``
        :param truncated: whether the episode was cut by a time limit rather than terminated
        :param final_observation: the observation after the last step (needed to bootstrap a truncated episode)
        :return: whether the episode was kept
        """
        length = len(rewards)
        if length == 0:
            raise ValueError("Cannot add an empty episode")
        frame = self.frame_shape[0]
        if self.frame_stack > 1 and not np.array_equal(observations[1:, :-frame], observations[:-1, frame:]):
            raise ValueError(
                f"frame_stack={self.frame_stack}: the observations are not stacks of the last {self.frame_stack} frames "
                f"along their first axis, newest last (each observation's older frames, [:-{frame}], must be the "
                f"previous observation's newest ones, [{frame}:]): set frame_stack to the env's number of stacked frames"
            )
        episode_return = float(np.sum(rewards, dtype=np.float64))
        returns_to_go = np.cumsum(rewards[::-1], dtype=np.float64)[::-1]
        if not np.all(np.abs(returns_to_go) <= np.finfo(np.float32).max):
            raise ValueError(
                f"An episode's return-to-go overflows float32 (episode return {episode_return}): scale the rewards down"
            )
        self.n_added += 1
        if not self._make_room(episode_return, length):
            return False
        rows = self._pad + length
        if self.pos + rows > self.capacity:
            self._compact(extra=rows)
        if self.n_episodes == len(self.ep_start):
            for name in self._TABLES:
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros_like(old)]))
        start, end = self.pos + self._pad, self.pos + rows
        if self.frame_stack == 1:
            self.observations[start:end] = observations
        else:  # the first observation's older frames, then each step's newest frame
            self.observations[self.pos : start] = observations[0, :-frame].reshape(self._pad, *self.frame_shape)
            self.observations[start:end] = observations[:, -frame:]
        self.actions[start:end] = actions.reshape((length, *self.action_shape))
        self.rewards[start:end] = rewards
        # Return-to-go: sum of rewards from t to the end of the episode
        self.returns_to_go[start:end] = returns_to_go
        self.pos = end
        i = self.n_episodes
        self.ep_start[i], self.ep_length[i] = start, length
        self.ep_return[i], self.ep_truncated[i], self.ep_id[i] = episode_return, truncated, self.n_added - 1
        self.ep_final_obs[i] = 0 if final_observation is None else final_observation
        self.n_episodes += 1
        return True

    def _remove(self, i: int) -> None:
        """Drop episode ``i`` from the table (its rows become a hole until the next compaction)."""
        last = self.n_episodes - 1
        for name in self._TABLES:
            table = getattr(self, name)
            table[i] = table[last]
        self.n_episodes -= 1

    def _compact(self, extra: int) -> None:
        """Move the kept episodes (with their ``_pad`` rows) to the front of the arrays, growing them if ``extra`` rows
        still do not fit."""
        n = self.n_episodes
        order = np.argsort(self.ep_start[:n], kind="stable")
        lengths = self.ep_length[:n][order] + self._pad
        used = int(lengths.sum())
        starts = self.ep_start[:n][order] - self._pad
        new_capacity = self.capacity
        while used + extra > new_capacity:
            new_capacity *= 2
        grow = new_capacity != self.capacity
        if grow:
            self._check_growth(new_capacity)
        new_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
        for name in self._STEP_ARRAYS:
            old = getattr(self, name)
            new = self._zeros(name, (new_capacity, *old.shape[1:]), old.dtype) if grow else old
            # Episode by episode: no temporary copy of the whole replay (numpy buffers an overlapping slice copy)
            for source, target, length in zip(starts, new_starts, lengths, strict=True):
                new[target : target + length] = old[source : source + length]
            setattr(self, name, new)
        self.ep_start[:n][order] = new_starts + self._pad
        self.pos = used

    def _check_growth(self, new_capacity: int) -> None:
        """Raise ``MemoryError`` saying why, before allocating ``new_capacity`` rows that the machine cannot hold."""
        extra = new_capacity * self.bytes_per_step  # the old arrays are freed after the copy
        available = available_memory()
        if available is not None and extra > available:
            raise MemoryError(
                f"The replay needs to grow to {new_capacity:,} steps of {self.obs_shape} "
                f"{np.dtype(self.observations.dtype).name} observations ({self.nbytes / GiB:.2f} GiB now, "
                f"{extra / GiB:.2f} GiB after growing), but only {available / GiB:.2f} GiB of memory are available. "
                "Keep fewer steps (buffer_size, or replay_size and recent_episodes for UDRL) or use smaller "
                "observations; the model so far can still be saved."
            )

    def top_episodes(self, k: int, among: np.ndarray | None = None) -> np.ndarray:
        """
        Table indices of the ``k`` kept episodes with the highest returns (the paper's ``last_few``).

        :param k: number of episodes
        :param among: boolean mask over the kept episodes to choose from (default: all)
        """
        candidates = np.arange(self.n_episodes) if among is None else np.flatnonzero(among[: self.n_episodes])
        if k >= len(candidates):
            return candidates
        return candidates[np.argpartition(self.ep_return[candidates], -k)[-k:]]

    def sample(self, batch_size: int, rng: np.random.Generator) -> CommandSamples:
        """
        Steps for hindsight relabelling (paper, section 2.3.3): an episode uniformly from the replay, ``t1``
        uniformly in ``[0, T-1]``, ``t2 = T``, with the return from ``t1`` to ``T`` and ``T - t1``.

        :param batch_size: number of examples
        :param rng: random generator
        """
        if self.n_episodes == 0:
            raise ValueError("Cannot sample from an empty replay buffer")
        episodes = rng.integers(self.n_episodes, size=batch_size)
        lengths = self.ep_length[episodes]
        t1 = (rng.random(batch_size) * lengths).astype(np.int64)  # uniform in [0, T-1]
        idx = self.ep_start[episodes] + t1
        return CommandSamples(
            observations=self.observations_at(idx),
            actions=self.actions[idx],
            returns_to_go=self.returns_to_go[idx],
            steps_to_go=(lengths - t1).astype(np.float32),
            episode_returns=self.ep_return[episodes].astype(np.float32),
            rows=idx,
        )

    def observations_at(self, rows: np.ndarray) -> np.ndarray:
        """
        The observations of ``rows`` (a copy), shape ``(*rows.shape, *obs_shape)``; with ``frame_stack``, each is its
        row's frame after those of the ``frame_stack - 1`` rows before it.

        :param rows: rows of steps of kept episodes
        """
        if self.frame_stack == 1:
            return self.observations[rows]
        frames = self.observations[rows[..., None] + np.arange(-self._pad, 1)]  # (*rows.shape, frame_stack, *frame)
        return frames.reshape(*rows.shape, *self.obs_shape)

    def episode(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observations (a copy with ``frame_stack``, else a view), actions and rewards (views) of kept episode ``i``."""
        start, end = int(self.ep_start[i]), int(self.ep_start[i] + self.ep_length[i])
        observations = self.observations[start:end] if self.frame_stack == 1 else self.observations_at(np.arange(start, end))
        return observations, self.actions[start:end], self.rewards[start:end]

    def padded_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """
        The kept episodes as a right-padded matrix of rows, for computations along time vectorised over episodes.

        :return: ``rows`` ``(n_episodes, max_length)`` (row of step ``t`` of each episode; padding repeats the last
            row) and ``mask`` of the same shape (True on real steps)
        """
        n = self.n_episodes
        lengths = self.ep_length[:n]
        steps = np.arange(int(lengths.max()) if n else 0)
        mask = steps[None, :] < lengths[:, None]
        rows = self.ep_start[:n, None] + np.minimum(steps[None, :], lengths[:, None] - 1)
        return rows, mask


class RecentReplayBuffer(EpisodicReplayBuffer):
    """
    Replay of the most recent ``buffer_size`` steps, kept as whole episodes: the oldest episodes are evicted until the
    new one fits (the FIFO of the RCP research code and of AWR; at least the newest episode is always kept).

    :param buffer_size: number of steps kept
    :param observation_space: space of the (unnormalised) observations stored
    :param action_space: action space (Discrete or Box)
    :param initial_capacity: number of steps allocated at first; grows as needed (None: 65,536 steps or 64 MiB,
        whichever is fewer, and at most ``2 * buffer_size``)
    :param frame_stack: the observations are stacks of the last ``frame_stack`` frames
        (:class:`EpisodicReplayBuffer`): each frame is stored once
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        initial_capacity: int | None = None,
        frame_stack: int = 1,
    ) -> None:
        if initial_capacity is not None:
            initial_capacity = min(initial_capacity, 2 * buffer_size)
        super().__init__(buffer_size, observation_space, action_space, initial_capacity, n_recent=0, frame_stack=frame_stack)

    def _default_capacity(self) -> int:
        return min(super()._default_capacity(), 2 * self.buffer_size)

    def _initial_table_size(self) -> int:
        return 64

    def max_steps(self, max_episode_steps: int | None) -> int:
        """Most steps the replay can come to hold: ``buffer_size`` (one episode longer than that is kept alone).

        :param max_episode_steps: the env's time limit (None: none)
        """
        return max(self.buffer_size, max_episode_steps or 0)

    def _max_rows(self, max_episode_steps: int | None) -> int:
        """Most rows :meth:`max_steps` can take: episodes of one step at worst, each with ``_pad`` rows."""
        return self.max_steps(max_episode_steps) * (1 + self._pad)

    def recent_mask(self) -> np.ndarray:
        return np.ones(self.n_episodes, dtype=bool)

    def _make_room(self, episode_return: float, length: int) -> bool:
        n_steps = self.n_steps
        while self.n_episodes > 0 and n_steps + length > self.buffer_size:
            oldest = int(np.argmin(self.ep_id[: self.n_episodes]))
            n_steps -= int(self.ep_length[oldest])
            self._remove(oldest)
        return True


class EpisodeStaging:
    """
    Steps of the episodes still running in each of ``n_envs`` environments, until they end.

    Rows are written for all envs at once (``add``) and an ended episode is taken out with ``pop``;
    the arrays double in length when an episode outgrows them.

    :param n_envs: number of environments
    :param obs_shape: shape of one observation
    :param obs_dtype: observation dtype
    :param action_shape: shape of one action
    :param action_dtype: action dtype
    :param initial_length: steps allocated per env at first
    """

    def __init__(
        self,
        n_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype,
        action_shape: tuple[int, ...],
        action_dtype: type,
        initial_length: int = 1024,
    ) -> None:
        self.n_envs = n_envs
        self.observations = np.zeros((n_envs, initial_length, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((n_envs, initial_length, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros((n_envs, initial_length), dtype=np.float32)
        self.lengths = np.zeros(n_envs, dtype=np.int64)
        self._envs = np.arange(n_envs)

    def add(self, observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Append one step for every env: ``observations`` ``(n_envs, *obs_shape)``, ``rewards`` ``(n_envs,)``."""
        if self.lengths.max() >= self.rewards.shape[1]:
            for name in ("observations", "actions", "rewards"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.zeros_like(old)], axis=1))
        self.observations[self._envs, self.lengths] = observations
        self.actions[self._envs, self.lengths] = actions.reshape(self.actions.shape[:1] + self.actions.shape[2:])
        self.rewards[self._envs, self.lengths] = rewards
        self.lengths += 1

    def pop(self, env_idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the steps of env ``env_idx``'s episode (views valid until the next ``add``) and clear it."""
        length = int(self.lengths[env_idx])
        self.lengths[env_idx] = 0
        return (
            self.observations[env_idx, :length],
            self.actions[env_idx, :length],
            self.rewards[env_idx, :length],
        )
