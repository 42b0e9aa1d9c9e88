import io
import json
import pathlib

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_udrl import UDRL, RewardFeedback
from sb3_udrl.common.policies import CommandPolicy
from tests.conftest import TINY


@pytest.fixture
def trained(tmp_path):
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardFeedback)
    model = UDRL("MlpPolicy", env, seed=0, **TINY).learn(800)
    return model


def _rollout_actions(model, env_seed=3, steps=60):
    """Deterministic closed-loop actions, command threaded through predict's state."""
    env = make_vec_env("CartPole-v1", n_envs=2, seed=env_seed, wrapper_class=RewardFeedback)
    obs, state, starts, actions = env.reset(), None, np.ones(2, dtype=bool), []
    for _ in range(steps):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        obs, _, starts, _ = env.step(action)
        actions.append(action)
    return np.array(actions), state


def test_save_load_identical_actions(trained, tmp_path):
    actions, state = _rollout_actions(trained)
    trained.save(tmp_path / "udrl.zip")
    loaded = UDRL.load(tmp_path / "udrl.zip")
    loaded_actions, loaded_state = _rollout_actions(loaded)
    np.testing.assert_array_equal(actions, loaded_actions)
    np.testing.assert_array_equal(state, loaded_state)
    # The evaluation command and its cap are saved with the model
    assert th.equal(trained.policy.eval_command, loaded.policy.eval_command)
    assert th.equal(trained.policy.max_return, loaded.policy.max_return)
    assert loaded.exploratory_horizon == trained.exploratory_horizon
    for key, value in trained.get_parameters()["policy"].items():
        assert th.equal(value, loaded.get_parameters()["policy"][key])


def test_save_load_file_like(trained):
    buffer = io.BytesIO()
    trained.save(buffer)
    buffer.seek(0)
    loaded = UDRL.load(buffer)
    assert loaded.batch_size == trained.batch_size


def test_load_overrides_and_continue_training(trained, tmp_path):
    trained.save(tmp_path / "udrl.zip")
    env = make_vec_env("CartPole-v1", n_envs=2, seed=1, wrapper_class=RewardFeedback)
    loaded = UDRL.load(tmp_path / "udrl.zip", env=env, batch_size=16, last_few=3)
    assert loaded.batch_size == 16 and loaded.last_few == 3
    steps = loaded.num_timesteps
    loaded.learn(300, reset_num_timesteps=False)
    assert loaded.num_timesteps >= steps + 300
    # Without the replay, learn() warms up again; with it, training resumes from the saved replay
    assert loaded.replay_buffer.n_episodes > 0


def test_save_load_replay_buffer(trained, tmp_path):
    trained.save_replay_buffer(tmp_path / "replay.pkl")
    trained.save(tmp_path / "udrl.zip")
    loaded = UDRL.load(tmp_path / "udrl.zip", env=trained.get_env())
    loaded.load_replay_buffer(tmp_path / "replay.pkl")
    old, new = trained.replay_buffer, loaded.replay_buffer
    assert new.n_episodes == old.n_episodes
    for name in ("ep_start", "ep_length", "ep_return", "observations", "actions", "returns_to_go"):
        np.testing.assert_array_equal(getattr(old, name), getattr(new, name))
    other = UDRL("MlpPolicy", "Pendulum-v1", **TINY)
    with pytest.raises(ValueError, match="was made for observations"):
        other.load_replay_buffer(tmp_path / "replay.pkl")


def test_replay_buffer_not_in_model_file(trained, tmp_path):
    trained.save(tmp_path / "udrl.zip")
    import zipfile

    with zipfile.ZipFile(tmp_path / "udrl.zip") as archive:
        data = json.loads(archive.read("data"))
    assert "replay_buffer" not in data and "_staging" not in data and "replay_buffer_kwargs" in data


def test_get_set_parameters_errors(trained):
    params = trained.get_parameters()
    with pytest.raises(ValueError):
        trained.set_parameters({"not_a_key": {}}, exact_match=True)
    missing = {"policy": params["policy"]}
    with pytest.raises(ValueError):
        trained.set_parameters(missing, exact_match=True)
    incomplete = {k: dict(v) for k, v in params.items()}
    incomplete["policy"].pop(next(iter(incomplete["policy"])))
    with pytest.raises(RuntimeError):
        trained.set_parameters(incomplete, exact_match=True)


def test_set_env(trained):
    env = make_vec_env("CartPole-v1", n_envs=2, seed=5, wrapper_class=RewardFeedback)
    steps = trained.num_timesteps
    trained.set_env(env)
    trained.learn(200, reset_num_timesteps=False)
    assert trained.num_timesteps >= steps + 200
    with pytest.raises(AssertionError):
        trained.set_env(make_vec_env("CartPole-v1", n_envs=3, wrapper_class=RewardFeedback))


def test_load_with_different_n_envs(trained, tmp_path):
    trained.save(tmp_path / "udrl.zip")
    env = make_vec_env("CartPole-v1", n_envs=3, seed=5, wrapper_class=RewardFeedback)
    loaded = UDRL.load(tmp_path / "udrl.zip", env=env)
    loaded.learn(300)
    assert loaded.n_envs == 3


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", None])
def test_corrupted_save_file(tmp_path, trained, content):
    path = tmp_path / "broken.zip"
    if content is None:  # a truncated real save
        trained.save(path)
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="not a valid UDRL save file"):
        UDRL.load(path)


def test_policy_save_load(trained, tmp_path):
    trained.policy.save(tmp_path / "policy.pth")
    policy = CommandPolicy.load(tmp_path / "policy.pth")
    obs = {"observation": np.zeros((1, 4), dtype=np.float32), "prev_reward": np.zeros((1, 1), dtype=np.float32)}
    np.testing.assert_array_equal(
        policy.predict(obs, deterministic=True)[0], trained.policy.predict(obs, deterministic=True)[0]
    )


def test_custom_objects_like_enjoy(trained, tmp_path):
    """rl-zoo3's enjoy loads with these custom objects."""
    trained.save(tmp_path / "udrl.zip")
    custom_objects = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0}
    loaded = UDRL.load(tmp_path / "udrl.zip", custom_objects=custom_objects)
    loaded.predict({"observation": np.zeros(4, dtype=np.float32), "prev_reward": np.zeros(1, dtype=np.float32)})


def test_save_without_training(tmp_path):
    model = UDRL("MlpPolicy", "Pendulum-v1", **TINY)
    model.save(pathlib.Path(tmp_path) / "fresh")
    loaded = UDRL.load(tmp_path / "fresh.zip", env=gym.make("Pendulum-v1"))
    loaded.learn(400)
