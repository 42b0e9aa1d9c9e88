import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_udrl import UDRL, RewardFeedback
from tests.conftest import CARTPOLE_LEARNS, TINY


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("feedback", [False, True])
def test_predict_shapes(env_id, feedback):
    wrapper = RewardFeedback if feedback else None
    env = make_vec_env(env_id, n_envs=1, wrapper_class=wrapper)
    model = UDRL("MlpPolicy", env, seed=0, **TINY)
    single_env = RewardFeedback(gym.make(env_id)) if feedback else gym.make(env_id)
    obs, _ = single_env.reset(seed=0)
    action, state = model.predict(obs)
    assert np.shape(action) == single_env.action_space.shape
    assert single_env.action_space.contains(action)
    assert len(state) == 2 and state[0].shape == (1,)
    vec_obs = make_vec_env(env_id, n_envs=3, wrapper_class=wrapper).reset()
    actions, state = model.predict(vec_obs, deterministic=True)
    assert actions.shape == (3, *single_env.action_space.shape)
    assert state[1].shape == (3,)
    with pytest.raises(ValueError, match="tuple"):
        model.predict(single_env.reset())


def test_closed_loop_command_in_predict():
    env = make_vec_env("CartPole-v1", n_envs=2, wrapper_class=RewardFeedback)
    model = UDRL("MlpPolicy", env, seed=0, **TINY)
    model.policy.eval_command[:] = th_tensor([100.0, 3.0])
    model.policy.max_return.fill_(50.0)
    obs = env.reset()
    _, state = model.predict(obs)
    np.testing.assert_array_equal(state[0], [100.0, 100.0])
    obs["prev_reward"][:] = [[1.0], [-2.0]]
    _, state = model.predict(obs, state=state, episode_start=np.array([False, True]))
    # env 0: d_r = min(100 - 1, cap 50), d_h = 3 - 1; env 1 starts a new episode
    np.testing.assert_array_equal(state[0], [50.0, 100.0])
    np.testing.assert_array_equal(state[1], [2.0, 3.0])
    for _ in range(5):
        _, state = model.predict(obs, state=state, episode_start=np.zeros(2, dtype=bool))
    assert state[1].min() == 1.0  # the horizon never goes below 1
    # Without RewardFeedback only the horizon moves
    plain = UDRL("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    plain.policy.eval_command[:] = th_tensor([100.0, 3.0])
    _, state = plain.predict(np.zeros(4, dtype=np.float32))
    _, state = plain.predict(np.zeros(4, dtype=np.float32), state=state)
    assert state[0][0] == 100.0 and state[1][0] == 2.0


def th_tensor(values):
    import torch as th

    return th.tensor(values)


def test_evaluate_policy_matches_closed_loop_evaluation():
    """SB3's evaluate_policy (command threaded through predict + RewardFeedback) equals the exact evaluation."""
    model = UDRL(
        "MlpPolicy",
        make_vec_env("CartPole-v1", n_envs=1, seed=0, wrapper_class=RewardFeedback),
        seed=0,
        **CARTPOLE_LEARNS,
    ).learn(10_000)
    for n_envs, n_episodes in ((1, 5), (3, 7)):
        # Several envs: the same episodes as SB3 (a fixed number per env, not the first ones to end)
        env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=42, wrapper_class=RewardFeedback)
        returns, lengths = evaluate_policy(
            model, env, n_eval_episodes=n_episodes, deterministic=True, return_episode_rewards=True
        )
        env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=42, wrapper_class=RewardFeedback)
        own_returns, own_lengths = model.evaluate(env, n_eval_episodes=n_episodes, deterministic=True)
        assert np.mean(own_returns) > 40  # trained, not random (~22)
        np.testing.assert_allclose(returns, own_returns)
        assert lengths == own_lengths


def test_same_seed_same_results():
    def run():
        model = UDRL("MlpPolicy", "CartPole-v1", seed=7, **TINY).learn(600)
        n = model.replay_buffer.n_episodes
        return model.replay_buffer.ep_return[:n].copy(), model.policy.parameters_to_vector()

    (returns_a, params_a), (returns_b, params_b) = run(), run()
    np.testing.assert_array_equal(returns_a, returns_b)
    np.testing.assert_array_equal(params_a, params_b)


def test_evaluate_accepts_plain_or_feedback_env_only():
    model = UDRL("MlpPolicy", make_vec_env("CartPole-v1", wrapper_class=RewardFeedback), seed=0, **TINY)
    plain, _ = model.evaluate(make_vec_env("CartPole-v1", seed=4), n_eval_episodes=2)
    wrapped, _ = model.evaluate(make_vec_env("CartPole-v1", seed=4, wrapper_class=RewardFeedback), n_eval_episodes=2)
    assert plain == wrapped
    with pytest.raises(ValueError, match="do not match"):
        model.evaluate(gym.make("Pendulum-v1"))


def test_evaluate_runs_a_fixed_number_of_episodes_per_env():
    """Short episodes must not crowd out long ones: each env contributes its share, as in SB3's evaluate_policy."""
    model = UDRL("MlpPolicy", make_vec_env("CartPole-v1", wrapper_class=RewardFeedback), seed=0, **TINY).learn(300)
    env = make_vec_env("CartPole-v1", n_envs=4, seed=3, wrapper_class=RewardFeedback)
    returns, lengths = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True, return_episode_rewards=True)
    env = make_vec_env("CartPole-v1", n_envs=4, seed=3, wrapper_class=RewardFeedback)
    own_returns, own_lengths = model.evaluate(env, n_eval_episodes=10, deterministic=True)
    assert len(set(lengths)) > 1
    np.testing.assert_allclose(returns, own_returns)
    assert lengths == own_lengths
