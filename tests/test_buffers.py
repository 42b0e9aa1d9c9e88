import numpy as np
import pytest
from gymnasium import spaces

from sb3_udrl.common.buffers import EpisodeStaging, EpisodicReplayBuffer


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
