"""The mirror symmetry augmentation (``mirror=lunar_lander_mirror()``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.logger import Logger

from sb3_udrl import RCPA, RCPR, UDRL
from sb3_udrl.envs.lunar_lander import lunar_lander_mirror


def _after_ten_steps(env: gym.Env, action) -> np.ndarray:
    env.reset(seed=3)
    for _ in range(10):
        obs, *_ = env.step(action)
    return obs


@pytest.mark.parametrize("continuous", [False, True])
def test_lunar_lander_mirror_matches_the_physics(continuous):
    """Firing one orientation engine moves the lander as the mirror image of firing the other."""
    env = gym.make("LunarLander-v3", continuous=continuous)
    mirror = lunar_lander_mirror(continuous)
    mirror.check(env.observation_space, env.action_space)
    if continuous:
        noop, left = np.array([-1.0, 0.0], np.float32), np.array([-1.0, -1.0], np.float32)
        right = mirror.actions(left[None])[0]
    else:
        noop, left = 0, 1
        right = int(mirror.actions(np.array([left]))[0])
        assert right == 3
    drift = _after_ten_steps(env, noop)
    effect_left = _after_ten_steps(env, left) - drift
    effect_right = _after_ten_steps(env, right) - drift
    # x, vx, angle, angular velocity: what the engines change sideways (the engines' random dispersion: 15%)
    moved = [0, 2, 4, 5]
    assert np.all(np.abs(effect_left[moved]) > 1e-3)
    np.testing.assert_allclose(mirror.observations(effect_left[None])[0][moved], effect_right[moved], rtol=0.15)


def test_mirror_is_an_involution_and_swaps_the_legs():
    mirror = lunar_lander_mirror()
    obs = np.arange(16, dtype=np.float32).reshape(2, 8)
    mirrored = mirror.observations(obs)
    np.testing.assert_array_equal(mirrored[:, 6:], obs[:, [7, 6]])
    np.testing.assert_array_equal(mirror.observations(mirrored), obs)
    np.testing.assert_array_equal(mirror.actions(np.array([0, 1, 2, 3])), [0, 3, 2, 1])
    only_first = mirror.apply(obs, np.array([1, 1]), np.array([True, False]))
    np.testing.assert_array_equal(only_first[0][1], obs[1])
    np.testing.assert_array_equal(only_first[1], [3, 1])


@pytest.mark.parametrize("algorithm", [UDRL, RCPR, RCPA])
def test_training_with_the_mirror_learns_the_other_side(algorithm):
    """Episodes only on the right, always firing the left engine: with the mirror, the lander on the left fires right."""
    model = algorithm("MlpPolicy", "LunarLander-v3", mirror=lunar_lander_mirror(), batch_size=64, seed=0)
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.replay_buffer = model._make_replay_buffer()
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs = rng.uniform(-0.5, 0.5, size=(10, 8)).astype(np.float32)
        obs[:, 0] = rng.uniform(0.2, 1.0, size=10)  # right of the pad
        obs[:, 6:] = 0.0
        model.replay_buffer.add_episode(obs, np.ones(10, dtype=np.int64), np.ones(10, dtype=np.float32))
    model.train(gradient_steps=300, batch_size=64)
    # the commands the training samples carried (a return and horizon, a return-to-go, an advantage)
    batch = model.replay_buffer.sample(50, rng)
    command = th.as_tensor(model.policy.condition.relabel(batch, model._prepare_training(64)))
    left = rng.uniform(-0.5, 0.5, size=(50, 8)).astype(np.float32)
    left[:, 0] = -rng.uniform(0.2, 1.0, size=50)
    left[:, 6:] = 0.0
    with th.no_grad():
        probs = model.policy.distribution(th.as_tensor(left), command).distribution.probs.numpy()
    assert probs[:, 3].mean() > 0.4 and probs[:, 3].mean() > probs[:, 0].mean() + 0.2, probs.mean(axis=0)


@pytest.mark.parametrize("algorithm", [UDRL, RCPR, RCPA])
def test_mirror_survives_save_and_load(algorithm, tmp_path):
    model = algorithm("MlpPolicy", "LunarLander-v3", mirror=lunar_lander_mirror(), seed=0)
    model.save(tmp_path / "model.zip")
    loaded = algorithm.load(tmp_path / "model.zip")
    np.testing.assert_array_equal(loaded.mirror.action_index, [0, 3, 2, 1])
    np.testing.assert_array_equal(loaded.mirror.obs_index, model.mirror.obs_index)
