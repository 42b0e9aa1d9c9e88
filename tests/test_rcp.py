"""RCPR and RCPA: returns along episodes, the recent-steps replay, value fitting, advantages, weights, targets, and
mixing the pieces of the shared core."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from sb3_udrl import RCPA, RCPR, UDRL
from sb3_udrl.common.buffers import EpisodicReplayBuffer, RecentReplayBuffer
from sb3_udrl.common.conditions import ReturnToGo
from sb3_udrl.common.exploration import ActionHolds
from sb3_udrl.common.utils import lambda_returns
from sb3_udrl.common.wrappers import RewardFeedback
from sb3_udrl.rcpa import PAPER_HYPERPARAMS
from tests.conftest import TINY_KWARGS


def _reference_lambda_returns(rewards, values, final_value, gamma, lam):
    """Sutton & Barto's recursive TD(lambda) return of one episode, step by step."""
    returns = np.zeros(len(rewards))
    next_return, next_value = final_value, final_value
    for t in reversed(range(len(rewards))):
        returns[t] = rewards[t] + gamma * ((1 - lam) * next_value + lam * next_return)
        next_return, next_value = returns[t], values[t]
    return returns


def test_lambda_returns_match_the_recursion():
    rng = np.random.default_rng(0)
    lengths = [5, 1, 3]
    rewards = np.zeros((3, 5))
    values = np.zeros((3, 5))
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    rewards[mask], values[mask] = rng.normal(size=mask.sum()), rng.normal(size=mask.sum())
    final_values = np.array([0.0, 2.5, -1.0])
    returns = lambda_returns(rewards, values, final_values, mask, 0.9, 0.8)
    for i, length in enumerate(lengths):
        expected = _reference_lambda_returns(rewards[i, :length], values[i, :length], final_values[i], 0.9, 0.8)
        np.testing.assert_allclose(returns[i, :length], expected)
    # lambda = 1 and V = 0: the discounted return-to-go
    discounted = lambda_returns(rewards, np.zeros_like(rewards), np.zeros(3), mask, 0.9, 1.0)
    np.testing.assert_allclose(discounted[0, 0], sum(0.9**t * r for t, r in enumerate(rewards[0])))


def _episode(length, reward=1.0, obs_dim=4):
    return np.zeros((length, obs_dim), dtype=np.float32), np.zeros(length, dtype=np.int64), np.full(length, reward, np.float32)


def test_recent_replay_keeps_the_latest_steps():
    buffer = RecentReplayBuffer(10, spaces.Box(-1, 1, (4,)), spaces.Discrete(2))
    for reward in (1.0, 2.0, 3.0):
        buffer.add_episode(*_episode(4, reward))
    # 12 steps offered, 10 fit: the oldest episode went, whatever its return
    assert buffer.n_steps == 8 and sorted(buffer.ep_return[: buffer.n_episodes]) == [8.0, 12.0]
    buffer.add_episode(*_episode(25, 0.0))  # longer than the replay: kept alone
    assert buffer.n_episodes == 1 and buffer.n_steps == 25
    many = RecentReplayBuffer(1000, spaces.Box(-1, 1, (4,)), spaces.Discrete(2))
    for i in range(150):  # more episodes than the initial table holds
        many.add_episode(*_episode(2, float(i)))
    assert many.n_episodes == 150 and many.ep_return[: many.n_episodes].max() == 2 * 149.0
    batch = many.sample(64, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.returns_to_go, many.returns_to_go[batch.rows])


def _filled(model, episodes):
    """episodes: list of (length, reward per step, truncated)."""
    model.replay_buffer = model._make_replay_buffer()
    for length, reward, truncated in episodes:
        observations, actions, rewards = _episode(length, reward)
        final = np.ones(4, dtype=np.float32)
        model.replay_buffer.add_episode(observations, actions, rewards, truncated, final)
    return model


def test_rcpa_bootstraps_time_limit_cuts_only():
    """G^lambda after the last step is V(s_T) for a time-limit cut and 0 for a termination (AWR)."""
    model = _filled(RCPA("MlpPolicy", "CartPole-v1", seed=0, gamma=0.9), [(3, 1.0, True), (3, 1.0, False)])
    # A constant value function V = 5 (the network predicts (1 - gamma) V)
    last = model.policy.value_net[-1]
    with th.no_grad():
        last.weight.zero_()
        last.bias.fill_(5.0 * (1 - 0.9))
    rows, mask = model.replay_buffer.padded_rows()
    returns, values = model._returns_and_values(rows, mask)
    np.testing.assert_allclose(values[mask], 5.0, rtol=1e-5)
    cut, terminated = returns
    np.testing.assert_allclose(cut[2], 1.0 + 0.9 * 5.0, rtol=1e-5)
    np.testing.assert_allclose(terminated[2], 1.0)
    np.testing.assert_allclose(cut, _reference_lambda_returns([1.0] * 3, [5.0] * 3, 5.0, 0.9, 0.95), rtol=1e-5)


def test_rcpa_fits_its_value_and_normalises_advantages():
    model = _filled(RCPA("MlpPolicy", "CartPole-v1", seed=0, n_value_updates_per_iter=0), [(20, 1.0, False)] * 5)
    model.set_logger(configure(None, []))
    rows, mask = model.replay_buffer.padded_rows()
    before = np.abs(np.subtract(*model._returns_and_values(rows, mask))[mask]).mean()
    model.n_value_updates_per_iter = 300
    advantages = model._prepare_training(batch_size=64)[rows[mask]]
    after = np.abs(np.subtract(*model._returns_and_values(rows, mask))[mask]).mean()
    assert after < 0.5 * before  # V learned the returns
    assert abs(advantages.mean()) < 1e-4 and abs(advantages.std() - 1) < 1e-3  # normalised over the replay


def test_exponential_weights_are_normalised_and_capped():
    model = _filled(RCPR("MlpPolicy", "CartPole-v1", weighting="exp", beta=0.5, max_weight=3.0), [(10, 1.0, False)] * 3)
    weights = model._row_weights(None)
    rows, mask = model.replay_buffer.padded_rows()
    kept = weights[rows[mask]]
    returns_to_go = model.replay_buffer.returns_to_go[rows[mask]]
    order = np.argsort(returns_to_go)
    assert np.all(np.diff(kept[order]) >= 0)  # more return-to-go, more weight
    assert kept.max() == 3.0 and kept.min() > 0
    assert model._row_weights(None) is not None and UDRL("MlpPolicy", "CartPole-v1")._row_weights(None) is None


def test_binary_weights_keep_the_above_average_samples_only():
    """weighting="binary" (CRR's filter): 1 where the normalised variable is above 0, else 0, and the padding 0."""
    model = _filled(RCPR("MlpPolicy", "CartPole-v1", weighting="binary"), [(10, 1.0, False), (4, 1.0, True)])
    weights = model._row_weights(None)
    rows, mask = model.replay_buffer.padded_rows()
    returns_to_go = model.replay_buffer.returns_to_go[rows[mask]]
    np.testing.assert_array_equal(weights[rows[mask]], (returns_to_go > returns_to_go.mean()).astype(np.float32))
    assert 0 < weights.sum() < mask.sum() and weights[rows[~mask]].sum() == 0
    # RCPA filters on its advantages: the steps of below-average advantage count for nothing
    rcpa = _filled(RCPA("MlpPolicy", "CartPole-v1", seed=0, weighting="binary"), [(10, 1.0, False)] * 3)
    rcpa.set_logger(configure(None, []))
    advantages = rcpa._prepare_training(batch_size=64)
    rows, mask = rcpa.replay_buffer.padded_rows()
    kept = advantages[rows[mask]].astype(np.float64)
    expected = (kept > kept.mean()).astype(np.float32)
    assert 0 < expected.sum() < len(expected)
    np.testing.assert_array_equal(rcpa._row_weights(advantages)[rows[mask]], expected)


def test_rcpr_weights_by_episode_return():
    """weight_by="episode_return": every step of an episode gets its episode's weight, the better episode more, even
    where its return-to-go is below the other's (the research code's weighting)."""
    model = _filled(RCPR("MlpPolicy", "CartPole-v1", weight_by="episode_return"), [(10, 1.0, False), (30, 1.0, False)])
    weights = model._row_weights(None)
    rows, mask = model.replay_buffer.padded_rows()
    short, long = weights[rows[0, mask[0]]], weights[rows[1, mask[1]]]
    assert np.all(short == short[0]) and np.all(long == long[0]) and long[0] > short[0]
    by_return_to_go = RCPR("MlpPolicy", "CartPole-v1")
    by_return_to_go.replay_buffer = model.replay_buffer
    by_z = by_return_to_go._row_weights(None)
    assert by_z[rows[1, mask[1]]][-1] < by_z[rows[0, 0]]  # by Z, the long episode's last step (Z = 1) ranks lower
    with pytest.raises(ValueError, match="weight_by must be one of"):
        RCPR("MlpPolicy", "CartPole-v1", weight_by="advantage")


def test_rcpr_targets_and_closed_loop():
    """Exploration N(mu + shift sigma, sigma) of the replay's returns; evaluation capped at the best return; the
    return-to-go follows Z <- (Z - r) / gamma."""
    model = _filled(RCPR("MlpPolicy", "CartPole-v1", seed=0, target_shift=2.0), [(10, 1.0, False), (30, 1.0, False)])
    model._update_eval_command()
    assert model.target_mean == 20.0 + 2 * 10.0 and model.target_std == 10.0
    assert float(model.policy.eval_command[0]) == 30.0 and float(model.policy.max_return) == 30.0  # capped
    targets = model._sample_exploratory_commands(5000)[:, 0]
    assert abs(targets.mean() - 40.0) < 1.0 and abs(targets.std() - 10.0) < 1.0
    condition = ReturnToGo(gamma=0.5)
    np.testing.assert_allclose(condition.update(np.array([[10.0], [10.0]]), np.array([2.0, 4.0]), 12.0), [[12.0], [12.0]])
    np.testing.assert_allclose(condition.update(np.array([[10.0]]), np.array([8.0])), [[4.0]])
    np.testing.assert_allclose(condition.update(np.array([[10.0]]), None), [[10.0]])  # no reward observed: unchanged


def test_rcpr_open_loop_keeps_its_target(tmp_path):
    """closed_loop=False (the research code): Z stays at its first value while collecting, in predict() with the
    reward fed back, and after save/load; a string for the flag is refused."""
    env = RewardFeedback(gym.make("CartPole-v1"))
    model = RCPR("MlpPolicy", env, seed=0, gamma=0.5, closed_loop=False)
    command = np.array([[10.0], [20.0]])
    np.testing.assert_array_equal(model._update_command(command.copy(), np.array([3.0, 5.0])), command)
    obs, _ = env.reset(seed=0)
    _, state = model.predict(obs)
    obs, *_ = env.step(0)
    _, next_state = model.predict(obs, state=state)
    np.testing.assert_array_equal(np.stack(next_state), np.stack(state))
    model.save(tmp_path / "open")
    assert RCPR.load(tmp_path / "open").policy.condition.closed_loop is False
    with pytest.raises(TypeError, match="closed_loop must be True or False"):
        RCPR("MlpPolicy", "CartPole-v1", closed_loop="False")


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_rcpr_auto_return_scale_divides_z_by_its_std(tmp_path, gamma):
    """return_scale="auto": each iteration Z enters the network divided by its standard deviation over the replay's
    steps (the discounted Z where gamma < 1); the scale is saved with the policy, so a loaded model acts the same."""
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = RCPR("MlpPolicy", env, seed=0, return_scale="auto", gamma=gamma, **TINY_KWARGS[RCPR]).learn(600)
    buffer, policy = model.replay_buffer, model.policy
    rows, mask = buffer.padded_rows()
    z = (buffer.returns_to_go if gamma == 1.0 else model._discounted_returns_to_go())[rows[mask]]
    assert z.std() > 2.0  # a scale of 1 would not pass the check below
    model.train(gradient_steps=1, batch_size=8)  # the scale of the replay as it is now
    assert abs(float((th.as_tensor(z) * policy._command_scale).std(unbiased=False)) - 1) < 1e-4
    model.save(tmp_path / "auto")
    loaded = RCPR.load(tmp_path / "auto")
    assert loaded.return_scale == "auto" and th.equal(loaded.policy._command_scale, policy._command_scale)
    obs, command, actions = th.as_tensor(env.reset()), th.full((2, 1), 30.0), th.zeros(2)
    assert th.equal(loaded.policy.log_prob(obs, command, actions), policy.log_prob(obs, command, actions))
    with pytest.raises(ValueError, match="return_scale must be a finite number > 0 or 'auto'"):
        RCPR("MlpPolicy", "CartPole-v1", return_scale="replay")


@pytest.mark.parametrize("sampling", ["episode", "step"])
def test_rcpa_target_sampling(sampling):
    model = RCPA("MlpPolicy", "CartPole-v1", seed=0, target_shift=1.5, target_sampling=sampling)
    assert float(model.policy.eval_command[0]) == 1.5
    targets = model._sample_exploratory_commands(5000)
    assert abs(targets.mean() - 1.5) < 0.05 and abs(targets.std() - 0.5) < 0.03  # the default spread
    command = targets[:3].copy()
    updated = model._update_command(command.copy(), np.ones(3))
    assert np.array_equal(updated, command) == (sampling == "episode")
    with pytest.raises(ValueError, match="target_sampling must be one of"):
        RCPA("MlpPolicy", "CartPole-v1", target_sampling="batch")


def test_rcpa_target_spread():
    """target_spread sets the exploratory target's standard deviation; 0 asks for target_shift at every draw."""
    wide = RCPA("MlpPolicy", "CartPole-v1", seed=0, target_spread=2.0)._sample_exploratory_commands(5000)
    assert abs(wide.std() - 2.0) < 0.1
    fixed = RCPA("MlpPolicy", "CartPole-v1", seed=0, target_shift=1.5, target_spread=0.0)
    np.testing.assert_array_equal(fixed._sample_exploratory_commands(4), np.full((4, 1), 1.5))
    with pytest.raises(ValueError, match="target_spread must be a finite number >= 0"):
        RCPA("MlpPolicy", "CartPole-v1", target_spread=-1.0)


@pytest.mark.parametrize(
    "model_class, name, older, other",
    [
        (RCPA, "target_spread", 1.0, 0.25),
        (RCPA, "action_holds", None, ActionHolds(0.5, steps=3)),
        (RCPA, "ent_coef", 0.0, 0.05),
        (RCPR, "ent_coef", 0.0, 0.05),
        (UDRL, "ent_coef", 0.0, 0.05),
    ],
)
def test_files_saved_before_an_option_existed_load_with_the_value_they_used(tmp_path, model_class, name, older, other):
    """A model saved before an option existed loads with the value it trained with (RCPA: the paper's spread of 1,
    where today's default is 0.5, and no holds; all three: no entropy term), through SaveLoadMixin's
    _older_file_defaults; load()'s overrides and newer files keep their own."""
    model = model_class("MlpPolicy", "CartPole-v1", seed=0, **{name: other})
    delattr(model, name)  # what such a file holds: no such attribute
    model.save(tmp_path / "old")
    assert repr(getattr(model_class.load(tmp_path / "old"), name)) == repr(older)
    with open(tmp_path / "old.zip", "rb") as file:  # file-like too
        assert repr(getattr(model_class.load(file), name)) == repr(older)
    assert repr(getattr(model_class.load(tmp_path / "old", **{name: other}), name)) == repr(other)
    model_class("MlpPolicy", "CartPole-v1", seed=0, **{name: other}).save(tmp_path / "new")
    assert repr(getattr(model_class.load(tmp_path / "new"), name)) == repr(other)
    if name == "target_spread":  # the exploratory target follows the loaded spread
        assert RCPA.load(tmp_path / "old").target_std == 1.0
        assert RCPA("MlpPolicy", "CartPole-v1").target_std == 0.5


def test_paper_preset_is_one_argument_away():
    """RCPA's defaults differ from the paper's (a spread of 0.5, CRR's binary filter, decaying ez-greedy holds);
    PAPER_HYPERPARAMS gives back the paper's targets from N(mu + sigma, sigma), its exponential weights, and every action
    sampled from the policy."""
    default, paper = RCPA("MlpPolicy", "CartPole-v1"), RCPA("MlpPolicy", "CartPole-v1", **PAPER_HYPERPARAMS)
    assert (default.target_std, paper.target_std) == (0.5, 1.0)
    assert (default.weighting, paper.weighting) == ("binary", "exp")
    assert isinstance(default.action_holds, ActionHolds) and paper.action_holds is None


def test_mixing_the_pieces():
    """RCPR keeping the best episodes, as UDRL's replay does."""
    best = RCPR(
        "MlpPolicy",
        make_vec_env("CartPole-v1", n_envs=2, seed=0),
        seed=0,
        replay_buffer_class=EpisodicReplayBuffer,
        **{**TINY_KWARGS[RCPR], "buffer_size": 5},
    ).learn(1500)
    buffer = best.replay_buffer
    assert type(buffer) is EpisodicReplayBuffer and buffer.n_episodes == 5
    seen = sorted(info["r"] for info in best.ep_info_buffer)  # every episode so far (fewer than 100)
    assert best._episode_num < 100
    np.testing.assert_allclose(sorted(buffer.ep_return[:5]), seen[-5:])
    with pytest.raises(TypeError, match="replay_buffer_class"):
        RCPR("MlpPolicy", "CartPole-v1", replay_buffer_class=dict)


CARTPOLE_RCP = dict(n_steps_per_iter=0, n_warm_up_episodes=10, n_episodes_per_iter=10, n_updates_per_iter=100)


@pytest.mark.parametrize(
    "model_class, kwargs, threshold",
    [
        (RCPA, dict(CARTPOLE_RCP, n_value_updates_per_iter=50), 150),
        (RCPR, dict(CARTPOLE_RCP, target_shift=3.0), 80),
    ],
)
def test_learns_cartpole(model_class, kwargs, threshold):
    """Learning happens: the closed-loop return grows well beyond a random policy's (~22)."""
    model = model_class("MlpPolicy", "CartPole-v1", seed=0, **kwargs).learn(15_000)
    returns, _ = model.evaluate(make_vec_env("CartPole-v1", n_envs=5, seed=123), n_eval_episodes=10)
    assert np.mean(returns) > threshold, returns


def test_iterations_of_n_steps():
    """n_steps_per_iter: each iteration after the warm-up collects exactly that many env steps (AWR's iterations)."""
    from stable_baselines3.common.callbacks import BaseCallback

    ends = []

    class RolloutEnds(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            ends.append(self.model.num_timesteps)

    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    RCPA("MlpPolicy", env, seed=0, **{**TINY_KWARGS[RCPA], "n_steps_per_iter": 64}).learn(1000, callback=RolloutEnds())
    assert len(ends) > 5 and set(np.diff(ends[1:-1])) == {64} and ends[-1] == 1000  # the last one stops at the budget


def test_rcpr_discounted_cap_covers_every_step():
    """With gamma < 1, Z grows within an episode: the evaluation cap is the largest return-to-go of any step."""
    model = RCPR("MlpPolicy", "CartPole-v1", seed=0, gamma=0.9)
    model.replay_buffer = model._make_replay_buffer()
    rewards = np.zeros(10, dtype=np.float32)
    rewards[-1] = 100.0  # sparse: everything at the last step
    model.replay_buffer.add_episode(np.zeros((10, 4), np.float32), np.zeros(10, np.int64), rewards)
    model._update_eval_command()
    assert np.isclose(model.target_max, 100.0) and np.isclose(model.target_mean, 100.0 * 0.9**9)


def test_evaluation_target_follows_the_main_process(tmp_path):
    """overlap_training: a stop mid-iteration keeps the main process's evaluation command, and RCPA.load(...,
    target_shift=x) asks for x."""
    from stable_baselines3.common.callbacks import BaseCallback

    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.num_timesteps < 1500

    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = RCPR("MlpPolicy", env, seed=0, overlap_training=True, **TINY_KWARGS[RCPR]).learn(5000, callback=StopAt())
    assert np.isclose(float(model.policy.eval_command[0]), min(model.target_mean, model.target_max), rtol=1e-5)
    assert np.isclose(float(model.policy.max_return), model.target_max, rtol=1e-5)
    rcpa = RCPA("MlpPolicy", "CartPole-v1", seed=0)
    rcpa.save(tmp_path / "rcpa.zip")
    assert float(RCPA.load(tmp_path / "rcpa.zip", target_shift=2.0).policy.eval_command[0]) == 2.0


def test_the_value_pass_before_fitting_reuses_the_pass_after_the_last_fit():
    """AWR computes V over the replay before and after fitting it: the pass before takes the previous pass after's
    values for the episodes still kept, so V runs on the new episodes only. The values are a whole pass's up to float32
    rounding, and none are reused once V's weights change or where observations are normalised."""
    from stable_baselines3.common.vec_env import VecNormalize

    model = RCPA("MlpPolicy", make_vec_env("CartPole-v1", 2, seed=0), seed=0, **TINY_KWARGS[RCPA]).learn(1500)
    buffer = model.replay_buffer
    buffer.add_episode(*(np.copy(part) for part in buffer.episode(0)))  # arrived after the last fit
    rows, mask = buffer.padded_rows()
    new_steps = sum(
        int(buffer.ep_length[e]) for e in range(buffer.n_episodes) if int(buffer.ep_id[e]) not in model._value_cache[1]
    )
    computed, values_of = [], model._values
    model._values = lambda n, observations: (computed.append(n), values_of(n, observations))[1]

    def first_pass():
        computed.clear()
        returns, values = model._returns_and_values(rows, mask)
        return computed[0], returns, values

    n, returns, values = first_pass()
    assert 0 < n == new_steps < mask.sum()
    model._value_cache = None
    n, whole_returns, whole_values = first_pass()
    assert n == mask.sum()
    np.testing.assert_allclose(values[mask], whole_values[mask], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns[mask], whole_returns[mask], rtol=1e-5, atol=1e-5)
    model._returns_and_values(rows, mask, remember=True)
    assert first_pass()[0] == 0  # V unchanged: all known
    with th.no_grad():
        model.policy.value_net[0].bias.add_(0.01)
    assert first_pass()[0] == mask.sum()

    env = VecNormalize(make_vec_env("CartPole-v1", 2, seed=0), norm_reward=False)
    normalised = RCPA("MlpPolicy", env, seed=0, **TINY_KWARGS[RCPA]).learn(1500)
    assert normalised._value_cache is not None and normalised._known_values() == {}
