import os
import pickle

import numpy as np
import pytest
from gymnasium import spaces

from sb3_udrl.common import buffers
from sb3_udrl.common.buffers import EpisodeStaging, EpisodicReplayBuffer, RecentReplayBuffer, map_shared


def _episode(rng, length, obs_dim=3):
    return (
        rng.normal(size=(length, obs_dim)).astype(np.float32),
        rng.integers(0, 2, size=length),
        rng.normal(size=length).astype(np.float32),
    )


def test_keeps_best_episodes_through_compaction_and_growth():
    rng = np.random.default_rng(0)
    buffer = EpisodicReplayBuffer(7, spaces.Box(-1, 1, (3,)), spaces.Discrete(2), initial_capacity=16)
    reference = []  # (return, obs, actions, rewards)
    for _ in range(200):
        obs, actions, rewards = _episode(rng, int(rng.integers(1, 40)))
        kept = buffer.add_episode(obs, actions, rewards)
        reference.append((float(rewards.sum(dtype=np.float64)), obs, actions, rewards))
        reference.sort(key=lambda e: -e[0])
        best_returns = {round(e[0], 6) for e in reference[:7]}
        assert kept == (round(float(rewards.sum(dtype=np.float64)), 6) in best_returns)
    assert buffer.n_episodes == 7
    stored = sorted(range(7), key=lambda i: -buffer.ep_return[i])
    for i, (ret, obs, actions, rewards) in zip(stored, reference[:7], strict=True):
        assert np.isclose(buffer.ep_return[i], ret)
        got_obs, got_actions, got_rewards = buffer.episode(i)
        np.testing.assert_array_equal(got_obs, obs)
        np.testing.assert_array_equal(got_actions, actions)
        np.testing.assert_array_equal(got_rewards, rewards)


@pytest.mark.parametrize("n_recent", [1, 5])
def test_keeps_best_plus_most_recent_episodes(n_recent):
    """With n_recent > 0 the replay holds the n_recent newest episodes plus the best of all older ones."""
    rng = np.random.default_rng(2)
    buffer = EpisodicReplayBuffer(4, spaces.Box(-1, 1, (3,)), spaces.Discrete(2), initial_capacity=16, n_recent=n_recent)
    offered = []
    for _ in range(120):
        obs, actions, rewards = _episode(rng, int(rng.integers(1, 30)))
        assert buffer.add_episode(obs, actions, rewards)  # a new episode always enters the recent window
        offered.append(float(rewards.sum(dtype=np.float64)))
        recent = offered[-n_recent:]
        older_best = sorted(offered[:-n_recent], reverse=True)[:4]
        kept = buffer.ep_return[: buffer.n_episodes]
        np.testing.assert_allclose(sorted(kept), sorted(recent + older_best), rtol=1e-6)
        np.testing.assert_allclose(sorted(kept[buffer.recent_mask()]), sorted(recent), rtol=1e-6)
    assert buffer.n_episodes == 4 + n_recent


def test_replays_pickled_with_the_removed_truncated_option_load_without_it():
    """Replays pickled when store_truncated="recent" existed hold truncated_recent_only: it is dropped on load."""
    buffer = EpisodicReplayBuffer(2, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), n_recent=2)
    buffer.add_episode(np.zeros((2, 1)), np.zeros(2), np.array([1.0, 0.0]), truncated=True)
    state = dict(buffer.__dict__, truncated_recent_only=True)
    old = EpisodicReplayBuffer.__new__(EpisodicReplayBuffer)
    old.__setstate__(state)
    assert not hasattr(old, "truncated_recent_only") and old.n_episodes == 1 and old.ep_truncated[0]


def test_sample_is_hindsight_relabelled():
    rng = np.random.default_rng(1)
    buffer = EpisodicReplayBuffer(3, spaces.Box(-1, 1, (1,)), spaces.Discrete(2))
    rewards = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    obs = np.arange(4, dtype=np.float32).reshape(4, 1)  # obs = time step
    buffer.add_episode(obs, np.array([0, 1, 0, 1]), rewards)
    batch = buffer.sample(2000, rng)
    t1 = batch.observations[:, 0].astype(int)
    assert set(t1) == {0, 1, 2, 3}  # t1 uniform over the whole episode
    np.testing.assert_allclose(batch.returns_to_go, [rewards[t:].sum() for t in t1])
    np.testing.assert_array_equal(batch.steps_to_go, 4 - t1)
    np.testing.assert_array_equal(batch.actions, t1 % 2)
    np.testing.assert_array_equal(batch.episode_returns, 10.0)


def test_top_episodes_and_errors():
    buffer = EpisodicReplayBuffer(5, spaces.Box(-1, 1, (1,)), spaces.Box(-1, 1, (2,)))
    with pytest.raises(ValueError, match="empty replay"):
        buffer.sample(4, np.random.default_rng(0))
    for ret in [3.0, -1.0, 7.0, 0.5]:
        buffer.add_episode(np.zeros((2, 1)), np.zeros((2, 2)), np.array([ret, 0.0]))
    assert sorted(buffer.ep_return[buffer.top_episodes(2)]) == [3.0, 7.0]
    assert len(buffer.top_episodes(10)) == 4
    with pytest.raises(ValueError, match="empty episode"):
        buffer.add_episode(np.zeros((0, 1)), np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="buffer_size"):
        EpisodicReplayBuffer(0, spaces.Box(-1, 1, (1,)), spaces.Discrete(2))
    with pytest.raises(ValueError, match="n_recent must be >= 0"):
        EpisodicReplayBuffer(3, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), n_recent=-1)
    with pytest.raises(TypeError, match="MultiBinary"):
        EpisodicReplayBuffer(3, spaces.Box(-1, 1, (1,)), spaces.MultiBinary(2))


def test_staging_grows_and_pops_per_env():
    staging = EpisodeStaging(2, (1,), np.float32, (), np.int64, initial_length=2)
    for t in range(5):
        staging.add(np.array([[t], [10 + t]], dtype=np.float32), np.array([t, -t]), np.array([1.0, 2.0]))
    obs, actions, _ = staging.pop(1)
    np.testing.assert_array_equal(obs[:, 0], [10, 11, 12, 13, 14])
    np.testing.assert_array_equal(actions, [0, -1, -2, -3, -4])
    staging.add(np.array([[5], [20]], dtype=np.float32), np.array([5, 20]), np.array([1.0, 2.0]))
    obs, _, _ = staging.pop(0)
    assert len(obs) == 6
    assert staging.pop(1)[0][:, 0].tolist() == [20]


def test_pickle_holds_the_rows_in_use_and_restores_the_allocation():
    """A replay of 64x64 images allocates its capacity at once; its pickle holds only the rows in use, and the
    unpickled replay has the same capacity, contents and behaviour."""
    rng = np.random.default_rng(3)
    image = spaces.Box(0, 255, (1, 64, 64), np.uint8)
    buffer = EpisodicReplayBuffer(5, image, spaces.Discrete(3))
    assert buffer.capacity == 2**26 // buffer.bytes_per_step  # 64 MiB at first, not 65,536 rows (268 MB)
    for _ in range(3):
        buffer.add_episode(rng.integers(0, 256, (10, 1, 64, 64), np.uint8), rng.integers(0, 3, 10), np.ones(10))
    data = pickle.dumps(buffer)
    assert len(data) < 40 * buffer.bytes_per_step < buffer.nbytes // 100
    copy = pickle.loads(data)
    assert copy.capacity == buffer.capacity and copy.pos == buffer.pos == 30
    episode = rng.integers(0, 256, (7, 1, 64, 64), np.uint8), rng.integers(0, 3, 7), np.full(7, 2.0)
    assert copy.add_episode(*episode) and buffer.add_episode(*episode)
    for name in ("observations", "actions", "rewards", "returns_to_go"):
        np.testing.assert_array_equal(getattr(copy, name)[:40], getattr(buffer, name)[:40])


def test_a_replay_that_cannot_fit_is_refused_with_the_reason(monkeypatch):
    image = spaces.Box(0, 255, (1, 64, 64), np.uint8)
    monkeypatch.setattr(buffers, "available_memory", lambda: 2**29)  # 0.5 GiB
    recent = RecentReplayBuffer(50_000, image, spaces.Discrete(3))
    buffers.check_replay_fits(recent, None)  # 65,536 rows at most: 0.25 GiB
    monkeypatch.setattr(buffers, "available_memory", lambda: 2**27)
    with pytest.raises(ValueError, match=r"50,000 steps.*\(1, 64, 64\) uint8.*0.25 GiB, but 0.12 GiB.*buffer_size"):
        buffers.check_replay_fits(recent, None)
    monkeypatch.setattr(buffers, "available_memory", lambda: 2**29)
    best = EpisodicReplayBuffer(500, image, spaces.Discrete(3), n_recent=200)
    buffers.check_replay_fits(best, None)  # no time limit: no bound to check here (growth is checked)
    with pytest.raises(ValueError, match=r"700 episodes of up to 525 steps.*replay_size and recent_episodes"):
        buffers.check_replay_fits(best, 525)
    buffers.check_replay_fits(best, 50)  # 35,000 steps: 0.14 GiB


def test_growth_beyond_the_available_memory_raises_memory_error_and_keeps_the_replay(monkeypatch):
    rng = np.random.default_rng(4)
    buffer = EpisodicReplayBuffer(100, spaces.Box(0, 255, (1, 64, 64), np.uint8), spaces.Discrete(3), initial_capacity=16)
    buffer.add_episode(rng.integers(0, 256, (10, 1, 64, 64), np.uint8), rng.integers(0, 3, 10), np.ones(10))
    monkeypatch.setattr(buffers, "available_memory", lambda: 20 * buffer.bytes_per_step)
    with pytest.raises(MemoryError, match=r"grow to 32 steps.*available.*the model so far can still be saved"):
        buffer.add_episode(rng.integers(0, 256, (10, 1, 64, 64), np.uint8), rng.integers(0, 3, 10), np.ones(10))
    assert buffer.capacity == 16 and buffer.n_episodes == 1


@pytest.mark.parametrize("buffer_class", [EpisodicReplayBuffer, RecentReplayBuffer])
def test_a_shared_replay_is_mapped_by_another_process_not_copied(buffer_class):
    """How overlap_training's learner gets the replay: the per-step arrays in shared memory, their file descriptors
    through the pipe (once per array), the episode table pickled; what the owner writes, the other side reads."""
    import multiprocessing as mp
    from multiprocessing.reduction import recv_handle, send_handle

    rng = np.random.default_rng(5)
    buffer = buffer_class(60, spaces.Box(-1, 1, (3,)), spaces.Box(-1, 1, (2,)), initial_capacity=32)

    def add(n):
        for _ in range(n):
            length = int(rng.integers(1, 9))
            buffer.add_episode(rng.normal(size=(length, 3)), rng.normal(size=(length, 2)), rng.normal(size=length))

    add(6)
    before = {name: getattr(buffer, name)[: buffer.pos].copy() for name in ("observations", "actions", "rewards")}
    buffer.share()
    for name, rows in before.items():
        np.testing.assert_array_equal(getattr(buffer, name)[: buffer.pos], rows)
    receiving, sending = mp.Pipe()
    mapped = {}

    def mirror():
        """The other side: receive the file descriptors of new arrays, map them, rebuild the replay."""
        shared = buffer.shared()
        layout = {key: (shape, dtype) for key, shape, dtype in shared.arrays.values()}
        new = [key for key in shared.fds if key not in mapped]
        for key in new:
            send_handle(sending, shared.fds[key], os.getpid())
            mapped[key] = map_shared(recv_handle(receiving), *layout[key])
        return EpisodicReplayBuffer.from_shared(pickle.loads(pickle.dumps(shared._replace(fds={}))), mapped), new

    capacities = []
    for _ in range(3):
        copy, new = mirror()
        assert len(new) == (4 if buffer.capacity not in capacities else 0)
        capacities.append(buffer.capacity)
        assert type(copy) is buffer_class and copy.capacity == buffer.capacity and copy.pos == buffer.pos
        for name in ("observations", "actions", "rewards", "returns_to_go"):
            np.testing.assert_array_equal(getattr(copy, name), getattr(buffer, name))
        for name in ("ep_start", "ep_length", "ep_return", "ep_id"):
            np.testing.assert_array_equal(getattr(copy, name)[: copy.n_episodes], getattr(buffer, name)[: buffer.n_episodes])
        samples = [replay.sample(16, np.random.default_rng(0)) for replay in (buffer, copy)]
        for a, b in zip(*samples, strict=True):
            np.testing.assert_array_equal(a, b)
        buffer.observations[0] += 1.0  # written by the owner, read by the other side without a new message
        np.testing.assert_array_equal(copy.observations[0], buffer.observations[0])
        add(12)  # compacts the arrays, and grows them (into shared memory too) where the kept episodes need it
    assert capacities[0] == 32 and capacities[-1] > 32
    private = pickle.loads(pickle.dumps(buffer))  # a saved replay is private memory
    assert private._fds is None
    private.observations[0] += 1.0
    assert not np.array_equal(private.observations[0], buffer.observations[0])


def test_shared_memory_goes_where_it_has_room_or_is_refused_with_the_reason(monkeypatch, tmp_path):
    """/dev/shm where it has room (as multiprocessing's shared arrays), else the temp directory, else MemoryError."""
    buffer = EpisodicReplayBuffer(10, spaces.Box(0, 255, (1, 64, 64), np.uint8), spaces.Discrete(3), initial_capacity=64)
    free = {"/dev/shm": 0, str(tmp_path): 10 * buffer.nbytes}

    class Stat:
        def __init__(self, directory):
            self.f_bavail, self.f_frsize = free[directory], 1

    monkeypatch.setattr(buffers.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(buffers.os, "statvfs", Stat)
    assert buffers._shared_dir(buffer.nbytes) == str(tmp_path)
    free["/dev/shm"] = buffer.nbytes
    assert buffers._shared_dir(buffer.nbytes) == "/dev/shm"
    free["/dev/shm"] = free[str(tmp_path)] = buffer.observations.nbytes - 1
    with pytest.raises(
        MemoryError, match=r"0.00 GiB of replay shared with overlap_training.*--shm-size.*overlap_training off"
    ):
        buffer.share()
    assert buffer._fds is None and buffer.capacity == 64


def _stacked_episode(rng, length, stack=4):
    """Observations that stack the last ``stack`` frames (1x5x5 images) along their first axis, newest last; the
    frames before the first step are the first step's own frame repeated or others (both happen)."""
    frames = rng.integers(0, 256, (length + stack - 1, 1, 5, 5), np.uint8)
    if rng.random() < 0.5:
        frames[: stack - 1] = frames[stack - 1]  # FrameStackObservation's padding: the reset observation
    obs = np.stack([frames[t : t + stack].reshape(stack, 5, 5) for t in range(length)])
    return obs, rng.integers(0, 3, length), rng.normal(size=length).astype(np.float32)


@pytest.mark.parametrize("buffer_class", [EpisodicReplayBuffer, RecentReplayBuffer])
def test_stacked_frames_are_stored_once_and_rebuilt_exactly(buffer_class):
    """With frame_stack=4 a row holds one frame: the replay keeps and samples the same episodes as one storing whole
    observations, through compaction, growth and pickling, in a quarter of the observation bytes per row."""
    rng = np.random.default_rng(5)
    space = spaces.Box(0, 255, (4, 5, 5), np.uint8)
    size = 6 if buffer_class is EpisodicReplayBuffer else 120
    whole, frames = (buffer_class(size, space, spaces.Discrete(3), initial_capacity=16, frame_stack=k) for k in (1, 4))
    assert frames.observations.shape[1:] == (1, 5, 5) and frames.bytes_per_step == whole.bytes_per_step - 75
    for _ in range(60):
        episode = _stacked_episode(rng, int(rng.integers(1, 30)))
        assert frames.add_episode(*episode) == whole.add_episode(*episode)
    assert frames.capacity > 16 and frames.n_episodes == whole.n_episodes > 1
    frames = pickle.loads(pickle.dumps(frames))
    for i in range(whole.n_episodes):
        for got, expected in zip(frames.episode(i), whole.episode(i), strict=True):
            np.testing.assert_array_equal(got, expected)
    a, b = frames.sample(500, np.random.default_rng(0)), whole.sample(500, np.random.default_rng(0))
    for name in ("observations", "actions", "returns_to_go", "steps_to_go", "episode_returns"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(frames.rewards[a.rows], whole.rewards[b.rows])


def test_observations_that_are_not_the_stacked_frames_are_refused_and_change_nothing():
    rng = np.random.default_rng(6)
    space = spaces.Box(0, 255, (4, 5, 5), np.uint8)
    buffer = EpisodicReplayBuffer(3, space, spaces.Discrete(3), frame_stack=4)
    buffer.add_episode(*_stacked_episode(rng, 5))
    obs, actions, rewards = _stacked_episode(rng, 6, stack=2)[0].repeat(2, axis=1), rng.integers(0, 3, 6), np.ones(6)
    with pytest.raises(ValueError, match=r"frame_stack=4: the observations are not stacks of the last 4 frames"):
        buffer.add_episode(obs, actions, rewards)
    assert buffer.n_episodes == buffer.n_added == 1 and buffer.pos == 3 + 5
    with pytest.raises(ValueError, match=r"frame_stack must be an integer >= 1, got 0"):
        EpisodicReplayBuffer(3, space, spaces.Discrete(3), frame_stack=0)
