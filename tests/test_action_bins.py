"""Box actions as binned categoricals (``policy_kwargs=dict(action_bins=K)``): the greedy action is a mode, not a mean."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from sb3_udrl import RCPA, RCPR, UDRL
from sb3_udrl.common.policies import CommandPolicy
from tests.conftest import MODEL_LIST, TINY_KWARGS
from tests.test_contract import IDS, MatrixActionEnv, assert_same_state


def make(model_class, env, action_bins, **kwargs):
    kwargs = {**TINY_KWARGS[model_class], **kwargs}
    kwargs["policy_kwargs"] = {**kwargs["policy_kwargs"], "action_bins": action_bins}
    return model_class("MlpPolicy", env, seed=0, **kwargs)


class ThresholdEnv(gym.Env):
    """Pays 1 per dimension for ``a[0] > 0.5`` and ``a[1] < -0.5``, as LunarLanderContinuous fires an engine only
    past a threshold: a Gaussian fitted to on/off actions puts its mean between them, below the threshold."""

    observation_space = spaces.Box(-1, 1, (1,), np.float32)
    action_space = spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        reward = float(action[0] > 0.5) + float(action[1] < -0.5)
        return np.zeros(1, np.float32), reward, self.t >= 5, False, {}


def fit(policy: CommandPolicy, actions: th.Tensor, steps: int = 300) -> None:
    """Maximum likelihood of ``actions`` under one observation and command (what ``train()`` does)."""
    obs, command = th.zeros(len(actions), 1), th.zeros(len(actions), policy.condition.dim)
    for _ in range(steps):
        loss = -policy.log_prob(obs, command, actions).mean()
        policy.optimizer.zero_grad()
        loss.backward()
        policy.optimizer.step()


def test_greedy_binned_action_is_the_mode_where_the_gaussian_is_the_mean():
    th.manual_seed(0)
    space = spaces.Box(-1, 1, (1,), np.float32)
    actions = th.tensor([[-1.0]] * 60 + [[1.0]] * 40)  # bimodal: "off" 60%, "full" 40%
    obs, command = th.zeros(1, 1), th.zeros(1, 2)
    binned = CommandPolicy(spaces.Box(-1, 1, (1,)), space, lambda _: 1e-2, net_arch=[16, 16], action_bins=5)
    fit(binned, actions)
    assert binned(obs, command, deterministic=True).item() == -1.0
    sampled = binned(obs.expand(4000, -1), command.expand(4000, -1)).squeeze(1)
    assert set(sampled.unique().tolist()) <= {-1.0, 1.0}
    assert abs((sampled == 1.0).float().mean().item() - 0.4) < 0.05
    gaussian = CommandPolicy(spaces.Box(-1, 1, (1,)), space, lambda _: 1e-2, net_arch=[16, 16])
    fit(gaussian, actions)
    assert abs(gaussian(obs, command, deterministic=True).item() - (-0.2)) < 0.05  # the mean: no mode of the data


@pytest.mark.parametrize(
    "model_class, kwargs, steps",
    [
        (UDRL, dict(n_updates_per_iter=40, replay_size=50, last_few=10), 4000),
        (RCPR, dict(n_updates_per_iter=20), 2000),
        (RCPA, dict(n_updates_per_iter=20), 2000),
    ],
    ids=IDS,
)
def test_binned_box_actions_learn_a_threshold(model_class, kwargs, steps):
    model = make(model_class, ThresholdEnv(), 5, **kwargs).learn(steps)
    action, _ = model.predict(np.zeros(1, np.float32), deterministic=True)
    assert action[0] > 0.5 and action[1] < -0.5, action


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_binned_actions_lie_on_the_grid_and_save_load_exactly(model_class, tmp_path):
    grid = {-1.0, -0.5, 0.0, 0.5, 1.0}
    model = make(model_class, MatrixActionEnv(), 5).learn(300)
    n = model.replay_buffer.pos
    assert set(np.unique(model.replay_buffer.actions[:n]).tolist()) <= grid
    for deterministic in (True, False):
        action, _ = model.predict(np.zeros(3, np.float32), deterministic=deterministic)
        assert action.shape == (2, 2) and set(np.unique(action).tolist()) <= grid
    model.save(tmp_path / "model.zip")
    loaded = model_class.load(tmp_path / "model.zip")
    assert loaded.policy.action_bins == 5
    assert_same_state(model, loaded)
    obs = np.random.default_rng(0).uniform(-1, 1, (8, 3)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize(
    "env, action_bins, match",
    [
        ("CartPole-v1", 5, "action_bins applies to Box action spaces only"),
        (MatrixActionEnv(), 1, "action_bins must be an integer >= 2"),
        (MatrixActionEnv(), 2.5, "action_bins must be an integer >= 2"),
        (MatrixActionEnv(), True, "action_bins must be an integer >= 2"),
    ],
)
def test_bad_action_bins_refused(env, action_bins, match):
    with pytest.raises(ValueError, match=match):
        make(UDRL, env, action_bins)


def test_action_bins_need_finite_bounds():
    space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    with pytest.raises(ValueError, match="finite bounds"):
        CommandPolicy(spaces.Box(-1, 1, (1,)), space, lambda _: 1e-3, action_bins=5)


def test_udrl_bins_box_actions_by_default_and_saves_the_gaussian(tmp_path):
    """UDRL's default for Box actions is 11 bins (README, Box actions); None gives the Gaussian; policy_kwargs wins;
    Discrete actions and RCP are unaffected; a Gaussian saves and loads as one (policy_kwargs left as given)."""
    assert UDRL("MlpPolicy", "Pendulum-v1").policy.action_bins == 11
    assert UDRL("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(action_bins=5)).policy.action_bins == 5
    assert UDRL("MlpPolicy", "CartPole-v1").policy.action_bins is None
    assert RCPA("MlpPolicy", "Pendulum-v1").policy.action_bins is None
    gaussian = UDRL("MlpPolicy", "Pendulum-v1", action_bins=None)
    assert gaussian.policy.action_bins is None and isinstance(gaussian.policy.log_std, th.nn.Parameter)
    assert gaussian.policy_kwargs == {}
    gaussian.save(tmp_path / "gaussian.zip")
    loaded = UDRL.load(tmp_path / "gaussian.zip")
    assert loaded.action_bins is None and loaded.policy.action_bins is None
    assert_same_state(gaussian, loaded)
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="action_bins must be an integer >= 2"):
            UDRL("MlpPolicy", "Pendulum-v1", action_bins=bad)
