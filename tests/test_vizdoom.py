"""ViZDoom's TakeCover (sb3_udrl.envs.vizdoom): the wrapper's images, and each algorithm's CnnPolicy trained on them
(replay of uint8 images, save/load with the replay). Skipped without the ``vizdoom`` extra."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm

pytest.importorskip("vizdoom", reason="vizdoom is not installed (pip install -e .[vizdoom])")
import vizdoom.gymnasium_wrapper  # noqa: F401  (registers VizdoomTakeCover-v1)

from sb3_udrl import RCPA
from sb3_udrl.common.wrappers import RewardFeedback
from sb3_udrl.envs.vizdoom import TAKE_COVER_ID, TakeCoverObservation
from tests.conftest import MODEL_LIST, TINY_KWARGS

SIZE = 64
#: The channel-first images the policy and the replay see (SB3's VecTransposeImage)
STORED_SHAPE = (1, SIZE, SIZE)


def make_env(model_class: type[BaseAlgorithm]) -> gym.Env:
    """TakeCover as the YAML entries make it: UDRL and RCPR read the previous reward for their closed-loop commands."""
    env = TakeCoverObservation(gym.make(TAKE_COVER_ID), size=SIZE, frame_skip=4)
    return env if model_class is RCPA else RewardFeedback(env)


@pytest.fixture(scope="module", autouse=True)
def _elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """ViZDoom writes _vizdoom.ini and _vizdoom/ in the working directory: a temporary one."""
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("vizdoom"))
    yield
    os.chdir(cwd)


def test_observations_are_small_grayscale_images() -> None:
    env = TakeCoverObservation(gym.make(TAKE_COVER_ID), size=SIZE, frame_skip=4)
    assert env.observation_space == spaces.Box(0, 255, (SIZE, SIZE, 1), np.uint8)
    assert env.action_space == spaces.Discrete(3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (SIZE, SIZE, 1) and obs.dtype == np.uint8 and obs.std() > 0
    obs, reward, terminated, _, _ = env.step(0)
    assert obs in env.observation_space and not terminated
    assert reward == 4.0  # +1 per tic alive, 4 tics per action
    env.close()


def test_stacked_images_are_the_last_frames_newest_last() -> None:
    """frame_stack=3: channels are the images of the last 3 steps, as the unstacked env shows them one by one."""
    single = TakeCoverObservation(gym.make(TAKE_COVER_ID), size=SIZE, frame_skip=4)
    stacked = TakeCoverObservation(gym.make(TAKE_COVER_ID), size=SIZE, frame_skip=4, frame_stack=3)
    assert stacked.observation_space == spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
    frames = [single.reset(seed=1)[0][..., 0]]
    obs, _ = stacked.reset(seed=1)
    assert obs.dtype == np.uint8 and all(np.array_equal(obs[..., k], frames[0]) for k in range(3))  # the first repeated
    for action in (1, 1, 2, 0, 2):
        frames.append(single.step(action)[0][..., 0])
        obs = stacked.step(action)[0]
        assert obs in stacked.observation_space
    assert not np.array_equal(frames[-1], frames[-2])
    for k in range(3):
        np.testing.assert_array_equal(obs[..., k], frames[k - 3])
    with pytest.raises(ValueError, match="frame_stack must be positive"):
        TakeCoverObservation(gym.make(TAKE_COVER_ID), frame_stack=0)
    single.close()
    stacked.close()


def test_wrapper_refuses_other_envs() -> None:
    with pytest.raises(TypeError, match="ViZDoom"):
        TakeCoverObservation(gym.make("CartPole-v1"))
    env = gym.make(TAKE_COVER_ID, frame_skip=2)
    with pytest.raises(ValueError, match="already repeats"):
        TakeCoverObservation(env, frame_skip=4)
    env.close()


@pytest.fixture(scope="module", params=MODEL_LIST, ids=[model_class.__name__ for model_class in MODEL_LIST])
def trained(request: pytest.FixtureRequest, _elsewhere: None) -> Iterator[BaseAlgorithm]:
    """Each algorithm's CnnPolicy after a few hundred steps (warm-up and one iteration of tiny updates)."""
    model_class = request.param
    threads = th.get_num_threads()
    th.set_num_threads(1)
    kwargs = {**TINY_KWARGS[model_class], "policy_kwargs": dict(net_arch=[16])}
    model = model_class("CnnPolicy", make_env(model_class), seed=0, **kwargs).learn(300)
    yield model
    model.env.close()
    th.set_num_threads(threads)


def test_replay_stores_uint8_images(trained: BaseAlgorithm) -> None:
    assert type(trained.policy.features_extractor).__name__ == "NatureCNN"
    assert trained._n_updates > 0
    buffer = trained.replay_buffer
    stored = buffer.observations[: buffer.pos]
    assert len(stored) and stored.shape[1:] == STORED_SHAPE and stored.dtype == np.uint8
    assert stored.std() > 0  # screens, not zeros
    final = buffer.ep_final_obs[: buffer.n_episodes]
    assert final.shape[1:] == STORED_SHAPE and final.dtype == np.uint8


def test_save_load_with_replay(trained: BaseAlgorithm, tmp_path: Path) -> None:
    trained.save(tmp_path / "model.zip")
    trained.save_replay_buffer(tmp_path / "replay.pkl")
    model_class = type(trained)
    loaded = model_class.load(tmp_path / "model.zip", env=make_env(model_class))
    loaded.load_replay_buffer(tmp_path / "replay.pkl")
    old, new = trained.replay_buffer, loaded.replay_buffer
    # the file holds the rows in use (plus final observations), not the whole allocation
    assert (tmp_path / "replay.pkl").stat().st_size < (old.pos + old.n_episodes + 64) * old.bytes_per_step < old.nbytes
    assert new.pos == old.pos and new.n_episodes == old.n_episodes and new.capacity == old.capacity
    np.testing.assert_array_equal(new.observations[: new.pos], old.observations[: old.pos])
    assert new.observations.dtype == np.uint8
    obs = loaded.get_env().reset()
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0].shape, (1,))
    loaded.env.close()


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=[model_class.__name__ for model_class in MODEL_LIST])
def test_a_replay_of_images_that_cannot_fit_is_refused(model_class: type[BaseAlgorithm], monkeypatch) -> None:
    """With a time limit the replay has a bound: 64x64 images of 700 episodes of 525 steps (2100 tics) do not fit
    into 1 GiB, and learn() says so before any step; what fits starts."""
    env = gym.wrappers.TimeLimit(make_env(model_class), max_episode_steps=525)
    size = dict(replay_size=500, recent_episodes=200) if model_class.__name__ == "UDRL" else dict(buffer_size=500_000)
    monkeypatch.setattr("sb3_udrl.common.buffers.available_memory", lambda: 2**30)
    model = model_class("CnnPolicy", env, seed=0, **{**TINY_KWARGS[model_class], **size})
    with pytest.raises(ValueError, match=r"\(1, 64, 64\) uint8 observations: 2.0\d GiB.*1.00 GiB of memory are available"):
        model.learn(10)
    assert model.num_timesteps == 0
    model.env.close()


@pytest.mark.zoo
@pytest.mark.skipif(find_spec("rl_zoo3") is None, reason="needs the zoo extra (rl-zoo3)")
def test_entry_points_train_enjoy_and_record_a_video(tmp_path: Path) -> None:
    """The YAML entry through rl-zoo3 (its wrapper and CnnPolicy; a tiny budget): train, enjoy, record_video, each
    registering the env with ``--gym-packages``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SDL_VIDEODRIVER": "dummy"}
    common = ["--algo", "udrl", "--env", TAKE_COVER_ID, "--gym-packages", "vizdoom.gymnasium_wrapper", "-f", "logs"]
    tiny = ["n_envs:2", "overlap_training:False", "n_warm_up_episodes:2", "n_episodes_per_iter:2", "batch_size:16"]
    tiny += ["n_updates_per_iter:2", "policy_kwargs:dict(net_arch=[16])"]

    def run(script: str, *args: str) -> str:
        command = [sys.executable, "-m", f"sb3_udrl.{script}", *common, *args]
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
        assert result.returncode == 0, f"{script} failed:\n{(result.stdout + result.stderr)[-5000:]}"
        return result.stdout + result.stderr

    run("train", "-n", "600", "--seed", "0", "-params", *tiny)
    assert (tmp_path / "logs" / "udrl" / f"{TAKE_COVER_ID}_1" / f"{TAKE_COVER_ID}.zip").is_file()
    run("enjoy", "--no-render", "-n", "50")
    run("record_video", "-n", "50", "-o", "videos")
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0
