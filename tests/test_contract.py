"""The SB3 contract, the same for UDRL, RCPR and RCPA (sb3-contrib's MODEL_LIST style)."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from sb3_udrl import RCPA, RCPR, UDRL, RewardFeedback
from sb3_udrl.common.buffers import EpisodicReplayBuffer
from tests.conftest import MODEL_LIST, TINY_KWARGS

IDS = [model_class.__name__ for model_class in MODEL_LIST]


def make(model_class, env, **kwargs):
    return model_class("MlpPolicy", env, seed=0, **{**TINY_KWARGS[model_class], **kwargs})


def torch_state(model):
    """Every network and optimiser the model saves, flattened to tensors."""
    tensors = {}
    for name, state in model._torch_state().items():
        if name.endswith("optimizer"):
            for index, param_state in state["state"].items():
                tensors.update({f"{name}.{index}.{k}": v for k, v in param_state.items()})
        else:
            tensors.update({f"{name}.{k}": v for k, v in state.items()})
    return tensors


def assert_same_state(a, b):
    state_a, state_b = torch_state(a), torch_state(b)
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert th.equal(state_a[key], state_b[key]), key


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_run_discrete_and_box(model_class, env_id):
    model = make(model_class, env_id).learn(600)
    assert model.num_timesteps >= 600 and model._n_updates > 0
    obs = model.get_env().reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert model.action_space.contains(actions[0])


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
@pytest.mark.parametrize("vec_env_cls", [DummyVecEnv, SubprocVecEnv])
def test_multi_env_episodes_are_whole(model_class, vec_env_cls):
    env = make_vec_env("CartPole-v1", n_envs=2, vec_env_cls=vec_env_cls, seed=0)
    buffer = make(model_class, env).learn(500).replay_buffer
    n = buffer.n_episodes
    assert n > 0
    np.testing.assert_allclose(buffer.ep_return[:n], buffer.ep_length[:n])  # CartPole pays 1 per step
    env.close()


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_same_seed_same_run(model_class):
    first, second = make(model_class, "CartPole-v1").learn(800), make(model_class, "CartPole-v1").learn(800)
    assert_same_state(first, second)
    n = first.replay_buffer.n_episodes
    np.testing.assert_array_equal(first.replay_buffer.ep_return[:n], second.replay_buffer.ep_return[:n])


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_callbacks_stop_at_once(model_class):
    class StopAfter(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 250

    callback = StopAfter()
    model = make(model_class, "CartPole-v1").learn(10_000, callback=callback)
    assert callback.n_calls == 250 and model.num_timesteps == 250


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_save_load_exact_and_learn_after_load(model_class, tmp_path):
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardFeedback)
    model = make(model_class, env).learn(800)
    model.save(tmp_path / "model.zip")
    loaded = model_class.load(tmp_path / "model.zip", env=env)
    assert_same_state(model, loaded)  # value network and every optimiser included
    assert th.equal(model.policy.eval_command, loaded.policy.eval_command)
    obs = env.reset()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    steps = loaded.num_timesteps
    loaded.set_env(make_vec_env("CartPole-v1", n_envs=2, seed=1, wrapper_class=RewardFeedback))
    loaded.learn(300, reset_num_timesteps=False)
    assert loaded.num_timesteps >= steps + 300


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_vec_normalize_stores_raw_data(model_class):
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0), norm_obs=True, norm_reward=True)
    model = make(model_class, env).learn(1200)
    buffer = model.replay_buffer
    n = buffer.n_episodes
    # Pendulum's raw rewards are in [-16.3, 0] and its observations' cos/sin in [-1, 1]: stored unnormalised
    assert np.all(buffer.rewards[: buffer.pos] <= 0)
    assert np.abs(buffer.ep_final_obs[:n, :2]).max() <= 1.0 + 1e-6
    assert np.isclose(buffer.ep_return[:n].min(), min(info["r"] for info in model.ep_info_buffer), atol=1e-3)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_cnn_policy(model_class):
    env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=True)
    model = model_class("CnnPolicy", env, seed=0, **{**TINY_KWARGS[model_class], "policy_kwargs": dict(net_arch=[16])})
    model.learn(150)
    assert type(model.policy.features_extractor).__name__ == "NatureCNN"


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_cnn_policy_starts_from_orthogonal_conv_weights(model_class, tmp_path):
    """CnnPolicy initialises its conv stack as SB3's ActorCriticPolicy does (orthogonal, gain sqrt(2)); PyTorch's default
    gives NatureCNN features that barely depend on the image. MlpPolicy keeps PyTorch's default; both survive save/load."""
    env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=True)
    model = model_class("CnnPolicy", env, seed=0, **{**TINY_KWARGS[model_class], "policy_kwargs": dict(net_arch=[16])})
    extractors = [module for name, module in model.policy.named_children() if name.endswith("features_extractor")]
    assert len(extractors) == (2 if model_class is RCPA else 1)  # RCPA: the value network's own
    for extractor in extractors:
        first_conv = extractor.cnn[0].weight.detach().flatten(1)  # (32 filters, 64 inputs): orthonormal rows * gain
        assert th.allclose(first_conv @ first_conv.T, 2 * th.eye(32), atol=1e-4)
    model.save(tmp_path / "model.zip")
    assert model_class.load(tmp_path / "model.zip").policy.ortho_init
    kwargs = {**TINY_KWARGS[model_class], "policy_kwargs": dict(net_arch=[16], ortho_init=False)}
    default = model_class("CnnPolicy", env, seed=0, **kwargs)
    first_conv = default.policy.features_extractor.cnn[0].weight.detach().flatten(1)
    assert not th.allclose(first_conv @ first_conv.T, 2 * th.eye(32), atol=1e-2)
    assert not model_class("MlpPolicy", "CartPole-v1", **TINY_KWARGS[model_class]).policy.ortho_init


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_cnn_policy_with_vec_normalize_on_channel_last_images(model_class):
    """SB3 transposes channel-last images above VecNormalize (images are not normalised by it: norm_obs=False, as in
    SB3, whose CNNs take uint8 images): the replay stores the original images channel-first, as the policy sees them."""
    env = VecNormalize(
        DummyVecEnv([lambda: FakeImageEnv(screen_height=36, screen_width=40, n_channels=3, discrete=True)]),
        norm_obs=False,
        norm_reward=True,
    )
    model = model_class("CnnPolicy", env, seed=0, **{**TINY_KWARGS[model_class], "policy_kwargs": dict(net_arch=[16])})
    model.learn(400)
    buffer = model.replay_buffer
    stored = buffer.observations[: buffer.pos]
    assert len(stored) and stored.shape[1:] == (3, 36, 40) == model.observation_space.shape
    assert stored.dtype == np.uint8 and stored.max() > 100  # raw pixels, not normalised ones
    final = buffer.ep_final_obs[: buffer.n_episodes]
    assert final.shape[1:] == (3, 36, 40) and final.max() > 100
    assert model.predict(env.reset())[0].shape == (1,)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_overlap_training_is_reproducible(model_class, monkeypatch):
    """Two runs end with the same weights, also where the second one's replay starts at 64 rows and grows while the
    learner trains (the learner maps the shared arrays anew after each growth)."""

    def run():
        env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
        return make(model_class, env, overlap_training=True).learn(1200)

    first = run()
    monkeypatch.setattr(EpisodicReplayBuffer, "_default_capacity", lambda self: 64)
    second = run()
    assert first._n_updates > 0 and first._learner is None
    assert first.replay_buffer.capacity >= 4000 and second.replay_buffer.capacity > 64
    assert_same_state(first, second)
    assert first.replay_buffer.n_added == first._episode_num


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_learner_process_trains_exactly_like_train(model_class):
    """One order to the learner process gives every network, optimiser and the RNG exactly as train() here."""
    import copy

    from sb3_udrl.common.learner import LearnerProcess

    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0), norm_obs=True, norm_reward=False)
    model = make(model_class, env).learn(1000)
    saved, rng_state = copy.deepcopy(model._torch_state()), copy.deepcopy(model._train_rng.bit_generator.state)
    learner = LearnerProcess(model)
    try:
        learner.start_training(model)
        learner.finish_training(model)
    finally:
        learner.close()
    from_process = copy.deepcopy(model._torch_state())
    model._load_torch_state(saved)
    model._train_rng.bit_generator.state = rng_state
    model.train(gradient_steps=model.n_updates_per_iter, batch_size=model.batch_size)
    for name, state in from_process.items():
        if name == "policy":
            for key, value in state.items():
                assert th.equal(value, model._torch_state()[name][key]), key


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_unsupported_spaces(model_class):
    env = gym.make("CartPole-v1")
    env.action_space = spaces.MultiBinary(4)
    with pytest.raises(ValueError, match=r"Discrete and Box action spaces, got MultiBinary\(4\)"):
        model_class("MlpPolicy", env)
    with pytest.raises(TypeError, match="Dict"):
        model_class("MlpPolicy", _dict_env())


def _dict_env():
    from stable_baselines3.common.envs import SimpleMultiObsEnv

    return SimpleMultiObsEnv()


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(batch_size=32.5), TypeError, "batch_size must be an int"),
        (dict(n_episodes_per_iter="10"), TypeError, "n_episodes_per_iter must be an int"),
        (dict(policy_kwargs=dict(conditioning="add")), ValueError, "conditioning must be"),
        (dict(policy_kwargs=dict(condition=None)), ValueError, r"policy_kwargs \['condition'\] are set by"),
        (dict(replay_buffer_kwargs=dict(buffer_size=10)), ValueError, r"replay_buffer_kwargs cannot set \['buffer_size'\]"),
        (dict(replay_buffer_kwargs=dict(initial_capacity=10)), ValueError, "replay_buffer_kwargs cannot set"),
    ],
)
def test_invalid_hyperparameters(model_class, kwargs, error, match):
    with pytest.raises(error, match=match):
        model_class("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize("model_class", [RCPR, RCPA])
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weighting="linear"), "weighting must be one of"),
        (dict(beta=0.0), "beta must be a finite number > 0"),
        (dict(max_weight=float("inf")), "max_weight must be a finite number"),
    ],
)
def test_invalid_weights_refused(model_class, kwargs, match):
    """RCP's exponential weights (UDRL has none: the paper weights every sample once)."""
    with pytest.raises(ValueError, match=match):
        model_class("MlpPolicy", "CartPole-v1", **kwargs)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        UDRL("MlpPolicy", "CartPole-v1", **kwargs)


class NaNRewardEnv(gym.Wrapper):
    def __init__(self, env: gym.Env, nan_after: int) -> None:
        super().__init__(env)
        self.steps, self.nan_after = 0, nan_after

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, (float("nan") if self.steps > self.nan_after else reward), terminated, truncated, info


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_non_finite_reward_raises_and_keeps_model(model_class, tmp_path):
    model = make(model_class, NaNRewardEnv(gym.make("CartPole-v1"), nan_after=400))
    with pytest.raises(ValueError, match="non-finite reward"):
        model.learn(2000)
    model.save(tmp_path / "model.zip")
    loaded = model_class.load(tmp_path / "model.zip")
    obs = np.zeros(4, dtype=np.float32)
    assert loaded.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_divergence_restores_every_network(model_class):
    model = make(model_class, "CartPole-v1").learn(400)
    before = {k: v.clone() for k, v in torch_state(model).items()}
    model.learning_rate = 1e30  # what a bad tuning trial does
    model._setup_lr_schedule()
    if isinstance(model, RCPA):
        for group in model.policy.value_optimizer.param_groups:
            group["lr"] = 1e30
    with pytest.raises(ValueError, match="Training diverged"):
        model.learn(3000, reset_num_timesteps=False)
    after = torch_state(model)
    assert all(th.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_evaluate_policy_matches_closed_loop_evaluation(model_class):
    """SB3's evaluate_policy on a RewardFeedback env gives the returns of the model's own closed-loop evaluate()."""
    model = make(model_class, make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardFeedback)).learn(1000)
    env = make_vec_env("CartPole-v1", n_envs=2, seed=7, wrapper_class=RewardFeedback)
    returns, _ = evaluate_policy(model, env, n_eval_episodes=4, deterministic=True, return_episode_rewards=True)
    own, _ = model.evaluate(make_vec_env("CartPole-v1", n_envs=2, seed=7, wrapper_class=RewardFeedback), 4)
    assert sorted(returns) == sorted(own)


class MatrixActionEnv(gym.Env):
    """Box actions of shape (2, 2): reward for matching a fixed matrix."""

    observation_space = spaces.Box(-1, 1, (3,), np.float32)
    action_space = spaces.Box(-1, 1, (2, 2), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        reward = -float(np.abs(action - np.eye(2)).sum())
        return np.zeros(3, np.float32), reward, self.t >= 10, False, {}


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_multi_dimensional_box_actions(model_class):
    model = make(model_class, MatrixActionEnv()).learn(300)
    action, _ = model.predict(np.zeros(3, np.float32), deterministic=True)
    assert action.shape == (2, 2) and model.action_space.contains(action)
    assert model.replay_buffer.actions.shape[1:] == (2, 2)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_load_accepts_the_policy_kwargs_of_creation(model_class, tmp_path):
    """SB3's test_save_load_env_cnn: load() accepts the policy_kwargs the model was created with, on Box actions too
    (UDRL's action_bins must not be written into the saved policy_kwargs); the policy comes back the same."""
    model = make(model_class, "Pendulum-v1", policy_kwargs=dict(net_arch=[32]))
    model.save(tmp_path / "model.zip")
    obs = np.random.default_rng(0).uniform(-1, 1, (8, 3)).astype(np.float32)
    expected = model.predict(obs, deterministic=True)[0]
    for kwargs in (dict(policy_kwargs=dict(net_arch=[32])), {}):
        loaded = model_class.load(tmp_path / "model.zip", **kwargs)
        assert loaded.policy_kwargs == dict(net_arch=[32])
        assert loaded.policy.action_bins == model.policy.action_bins == (11 if model_class.__name__ == "UDRL" else None)
        assert_same_state(model, loaded)
        np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], expected)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_stacked_frames_are_stored_once_and_train_exactly_as_whole_observations(model_class):
    """replay_buffer_kwargs frame_stack: the replay keeps each of CartPole's 4 stacked observations once (a quarter of
    the rows' observation bytes), and training is exactly as with whole stacks."""

    def run(**replay_buffer_kwargs):
        env = make_vec_env(
            "CartPole-v1",
            n_envs=2,
            seed=0,
            wrapper_class=gym.wrappers.FrameStackObservation,
            wrapper_kwargs=dict(stack_size=4),
        )
        return make(model_class, env, replay_buffer_kwargs=replay_buffer_kwargs).learn(1200)

    whole, frames = run(), run(frame_stack=4)
    assert whole.replay_buffer.observations.shape[1:] == (4, 4) and frames.replay_buffer.observations.shape[1:] == (1, 4)
    assert whole._n_updates > 0 and frames.replay_buffer.n_steps == whole.replay_buffer.n_steps
    assert_same_state(whole, frames)
    with pytest.raises(ValueError, match=r"frame_stack=3 must divide the first axis.*\(4, 4\)"):
        run(frame_stack=3)
