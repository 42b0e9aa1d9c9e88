import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback, StopTrainingOnMaxEpisodes
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize

from sb3_udrl import RCPA, RCPR, UDRL, RewardFeedback
from sb3_udrl.common.base import DEFAULT_TOTAL_TIMESTEPS
from sb3_udrl.udrl import PAPER_HYPERPARAMS
from tests.conftest import CARTPOLE_LEARNS, TINY


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_run(env_id):
    model = UDRL("MlpPolicy", env_id, seed=0, **TINY)
    model.learn(600, log_interval=1)
    assert model.num_timesteps >= 600
    assert model.replay_buffer.n_episodes > 0
    assert model._n_updates > 0


def test_default_budget_and_callback_stop():
    """learn() works without a budget (SB3 requires one; ours defaults) and stops when a callback says so."""

    class StopAfter(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 300

    model = UDRL("MlpPolicy", "CartPole-v1", seed=0, **TINY)
    model.learn(callback=StopAfter())
    assert model._total_timesteps == DEFAULT_TOTAL_TIMESTEPS
    assert model.num_timesteps == 300


def test_callbacks_can_cancel_runs():
    class AlwaysFalse(BaseCallback):
        def _on_step(self) -> bool:
            return False

    callback = AlwaysFalse()
    model = UDRL("MlpPolicy", "CartPole-v1", **TINY)
    model.learn(1000, callback=callback)
    assert callback.n_calls == 1
    assert model.num_timesteps == 1


def test_on_step_once_per_vec_step_and_max_episodes():
    env = make_vec_env("CartPole-v1", n_envs=3, seed=1)

    class Count(BaseCallback):
        def _on_step(self) -> bool:
            assert {"rewards", "dones", "infos"} <= set(self.locals)
            return True

    count = Count()
    stop = StopTrainingOnMaxEpisodes(max_episodes=7)
    model = UDRL("MlpPolicy", env, seed=0, **TINY)
    model.learn(5000, callback=[count, stop])
    assert count.n_calls * env.num_envs == model.num_timesteps
    assert model.num_timesteps < 5000


def test_truncation_is_recorded():
    env = gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=5)
    model = UDRL("MlpPolicy", env, seed=0, **TINY).learn(200)
    buffer = model.replay_buffer
    n = buffer.n_episodes
    assert buffer.ep_length[:n].max() <= 5
    assert buffer.ep_truncated[:n].any()


def test_vec_normalize_keeps_commands_in_return_units():
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0), norm_obs=True, norm_reward=True)
    model = UDRL("MlpPolicy", env, seed=0, **TINY).learn(1200)
    buffer = model.replay_buffer
    n = buffer.n_episodes
    # Pendulum's raw rewards are in [-16.3, 0]; normalised ones would not be, and neither would their sums
    assert np.all(buffer.rewards[buffer.ep_start[0] : buffer.ep_start[0] + buffer.ep_length[0]] <= 0)
    episode_returns = sorted(info["r"] for info in model.ep_info_buffer)
    assert np.isclose(buffer.ep_return[:n].max(), episode_returns[-1], atol=1e-3)
    assert model.exploratory_return_mean < -100


def test_reward_feedback_with_vec_normalize():
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardFeedback)
    with pytest.raises(ValueError, match="norm_obs_keys"):
        UDRL("MlpPolicy", VecNormalize(env), **TINY).learn(100)
    model = UDRL("MlpPolicy", VecNormalize(env, norm_obs_keys=["observation"]), seed=0, **TINY)
    model.learn(300)
    assert model.replay_buffer.obs_shape == (4,)


def test_learning_rate_schedule_and_logger_keys(tmp_path):
    model = UDRL("MlpPolicy", "CartPole-v1", learning_rate=LinearSchedule(1e-3, 1e-4, 1.0), seed=0, **TINY)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(800)
    import pandas as pd

    logs = pd.read_csv(tmp_path / "progress.csv")
    for key in [
        "rollout/ep_rew_mean",
        "rollout/ep_len_mean",
        "rollout/desired_return",
        "rollout/desired_horizon",
        "rollout/replay_best_return",
        "rollout/replay_mean_return",
        "time/fps",
        "train/loss",
        "train/learning_rate",
    ]:
        assert key in logs.columns, key
    learning_rates = logs["train/learning_rate"].dropna().to_numpy()
    assert learning_rates[-1] < learning_rates[0]


def test_tensorboard(tmp_path):
    UDRL("MlpPolicy", "CartPole-v1", tensorboard_log=str(tmp_path), seed=0, **TINY).learn(300)
    assert list(tmp_path.glob("UDRL_1/events.out.tfevents.*"))


def test_policy_kwargs_honoured():
    import torch as th

    model = UDRL("MlpPolicy", "CartPole-v1", **{**TINY, "policy_kwargs": dict(net_arch=[8, 12], activation_fn=th.nn.Tanh)})
    linears = [m for m in model.policy.trunk if isinstance(m, th.nn.Linear)]
    assert [m.out_features for m in linears] == [12]
    assert any(isinstance(m, th.nn.Tanh) for m in model.policy.trunk)
    concat = UDRL("MlpPolicy", "CartPole-v1", **{**TINY, "policy_kwargs": dict(conditioning="concat")})
    concat.learn(200)


@pytest.mark.parametrize("model_class", [UDRL, RCPR, RCPA])
def test_every_layer_conditioning_gates_each_hidden_layer_with_the_command(model_class, tmp_path):
    """``conditioning="every_layer"`` (RCP's architecture): a sigmoid gate of the command multiplies the embedding and
    each hidden layer; closing any one gate cuts the observation off the output, and the model round-trips."""
    kwargs = dict(policy_kwargs=dict(net_arch=[8, 12, 6], conditioning="every_layer"))
    model = model_class("MlpPolicy", "CartPole-v1", seed=0, n_updates_per_iter=5, **kwargs).learn(300)
    policy = model.policy
    assert [gate[0].out_features for gate in policy.command_gates] == [12, 6]
    obs, command = th.randn(16, 4), th.full((16, policy.condition.dim), 50.0)
    with th.no_grad():
        assert policy._action_net_output(obs, command).std(dim=0).min() > 0  # the output depends on the observation
        for gate in [policy.command_embedding, *policy.command_gates]:
            bias = gate[0].bias.clone()
            gate[0].bias.fill_(-1e4)  # sigmoid -> 0: this layer is zero whatever the observation
            out = policy._action_net_output(obs, command)
            gate[0].bias.copy_(bias)
            assert th.allclose(out, out[:1].expand_as(out)), gate
    model.save(tmp_path / "model.zip")
    loaded = model_class.load(tmp_path / "model.zip")
    assert loaded.policy.conditioning == "every_layer"
    with th.no_grad():
        assert th.equal(loaded.policy._action_net_output(obs, command), policy._action_net_output(obs, command))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(replay_size=-3), ValueError, "buffer_size must be >= 1|replay_size"),
        (dict(return_scale=-0.1), ValueError, "return_scale must be a finite number > 0"),
        (dict(horizon_scale=float("nan")), ValueError, "horizon_scale must be a finite number > 0"),
    ],
)
def test_invalid_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        UDRL("MlpPolicy", "CartPole-v1", **kwargs)


def test_last_few_clamped_with_warning():
    with pytest.warns(UserWarning, match="last_few"):
        model = UDRL("MlpPolicy", "CartPole-v1", replay_size=10, last_few=50)
    assert model.last_few == 10


def test_learns_cartpole():
    """Learning happens: the closed-loop return grows well beyond a random policy's (~22)."""
    model = UDRL(
        "MlpPolicy",
        "CartPole-v1",
        seed=0,
        **CARTPOLE_LEARNS,
    )
    model.learn(15_000)
    returns, _ = model.evaluate(make_vec_env("CartPole-v1", n_envs=5, seed=123), n_eval_episodes=10)
    assert np.mean(returns) > 60, returns


def _fill_replay(model, episodes):
    """episodes: list of (return, length, truncated)."""
    model.replay_buffer = model._make_replay_buffer()
    for ret, length, truncated in episodes:
        rewards = np.full(length, ret / length, dtype=np.float32)
        obs = np.zeros((length, 4), dtype=np.float32)
        model.replay_buffer.add_episode(obs, np.zeros(length, dtype=np.int64), rewards, truncated=truncated)


@pytest.mark.parametrize(
    "command_episodes, expected",
    [
        # (M, S from the returns, horizon)
        ("all", ([100.0, 90.0, 80.0], 500.0)),
        ("terminated", ([90.0, 80.0, 10.0], (300 + 200 + 50) / 3)),
        ("terminated_horizon", ([100.0, 90.0, 80.0], (300 + 200 + 50) / 3)),
    ],
)
def test_exploratory_command_statistics(command_episodes, expected):
    """Section 2.3.4: from the last_few best episodes, d_h = mean length, d_r ~ U[M, M + S]."""
    model = UDRL("MlpPolicy", "CartPole-v1", seed=0, replay_size=10, last_few=3, command_episodes=command_episodes)
    # the best one is cut by a time limit at 1000 steps
    _fill_replay(model, [(100.0, 1000, True), (90.0, 300, False), (80.0, 200, False), (10.0, 50, False), (5.0, 5, True)])
    model._update_eval_command()
    returns, expected_horizon = expected
    assert np.isclose(model.exploratory_return_mean, np.mean(returns))
    assert np.isclose(model.exploratory_return_std, np.std(returns))
    assert np.isclose(model.exploratory_horizon, expected_horizon)
    commands = model._sample_exploratory_commands(1000)
    mean, std = model.exploratory_return_mean, model.exploratory_return_std
    assert commands[:, 0].min() >= mean and commands[:, 0].max() <= mean + std
    assert np.all(commands[:, 1] == expected_horizon)
    # Evaluation command (section 2.3.6): d_r = M, d_h = the exploratory horizon, capped at the best return
    np.testing.assert_allclose(model.policy.eval_command.numpy(), [mean, expected_horizon], rtol=1e-6)
    assert np.isclose(float(model.policy.max_return), 100.0)


@pytest.mark.parametrize("cap", [True, False])
def test_return_bonus_widens_the_exploratory_range(cap):
    """return_bonus: d_r ~ U[M, M + S + bonus]; with the cap on, never above the best return; the evaluation keeps M."""
    model = UDRL("MlpPolicy", "CartPole-v1", seed=0, replay_size=10, last_few=2, return_bonus=50.0, cap_desired_return=cap)
    _fill_replay(model, [(100.0, 100, False), (100.0, 100, False), (10.0, 10, False)])
    model._update_eval_command()
    assert model.exploratory_return_mean == 100.0 and model.exploratory_return_std == 0.0
    desired = model._sample_exploratory_commands(1000)[:, 0]
    if cap:
        assert np.all(desired == 100.0)
    else:
        assert desired.min() >= 100.0 and desired.max() <= 150.0 and desired.max() > 145.0 and desired.std() > 10.0
    assert float(model.policy.eval_command[0]) == 100.0
    for bad, error in ((-1.0, ValueError), (float("nan"), ValueError), ("5", TypeError)):
        with pytest.raises(error, match="return_bonus"):
            UDRL("MlpPolicy", "CartPole-v1", return_bonus=bad)


def test_paper_preset_is_one_argument_away():
    """The defaults are the measured LunarLander setting; PAPER_HYPERPARAMS gives back the paper's for each deviation."""
    default, paper = UDRL("MlpPolicy", "LunarLander-v3"), UDRL("MlpPolicy", "LunarLander-v3", **PAPER_HYPERPARAMS)
    measured = (default.last_few, default.n_updates_per_iter, default.recent_episodes, default.recent_command)
    assert measured == (20, 200, 200, True)
    for name, value in PAPER_HYPERPARAMS.items():
        assert getattr(paper, name) == value != getattr(default, name), name
    assert paper._make_replay_buffer().n_recent == 0 < default._make_replay_buffer().n_recent  # best episodes only


def test_recent_command_follows_the_newest_episodes():
    """recent_command: M, S and the horizon come from the best of the recent window, the cap from the whole replay."""
    model = UDRL("MlpPolicy", "CartPole-v1", replay_size=3, last_few=2, recent_episodes=3, recent_command=True)
    _fill_replay(model, [(300.0, 300, False), (250.0, 250, False), (-80.0, 80, False), (-60.0, 60, False), (-90.0, 90, False)])
    model._update_eval_command()
    assert np.isclose(model.exploratory_return_mean, -70.0) and np.isclose(model.exploratory_return_std, 10.0)
    assert model.exploratory_horizon == 70.0
    assert np.isclose(float(model.policy.max_return), 300.0)
    with pytest.raises(ValueError, match="recent_command=True needs recent_episodes > 0"):
        UDRL("MlpPolicy", "CartPole-v1", recent_episodes=0, recent_command=True)
    with pytest.raises(ValueError, match="recent_episodes must be >= 0"):
        UDRL("MlpPolicy", "CartPole-v1", recent_episodes=-5)


def test_terminated_commands_fall_back_when_all_truncated():
    model = UDRL("MlpPolicy", "CartPole-v1", replay_size=10, last_few=2)
    _fill_replay(model, [(100.0, 500, True), (90.0, 300, True), (5.0, 20, True)])
    model._update_eval_command()
    assert model.exploratory_horizon == 400.0 and np.isclose(model.exploratory_return_mean, 95.0)
    with pytest.raises(ValueError, match="command_episodes must be one of"):
        UDRL("MlpPolicy", "CartPole-v1", command_episodes="best")
    with pytest.raises(TypeError, match="command_episodes must be a string"):
        UDRL("MlpPolicy", "CartPole-v1", command_episodes=all)  # what rl-zoo3's -params command_episodes:all passes


@pytest.mark.parametrize("cap", [True, False])
def test_training_command_update(cap):
    """Algorithm 2 while collecting: d_r <- d_r - r (capped at the best return if asked), d_h <- max(d_h - 1, 1)."""
    model = UDRL("MlpPolicy", "CartPole-v1", replay_size=10, last_few=2, cap_desired_return=cap)
    _fill_replay(model, [(100.0, 50, False), (90.0, 40, False)])
    model._update_eval_command()
    command = np.array([[95.0, 2.0], [95.0, 1.0]])
    command = model._update_command(command, np.array([-10.0, 3.0]))
    np.testing.assert_allclose(command, [[100.0 if cap else 105.0, 1.0], [92.0, 1.0]])


@pytest.mark.parametrize("eval_cap", [True, False])
def test_eval_return_cap_in_closed_loop_predict(eval_cap):
    """Algorithm 2 at evaluation: d_r <- min(d_r - r, best return); eval_return_cap=False drops the cap (Pendulum)."""
    model = UDRL("MlpPolicy", "CartPole-v1", replay_size=10, last_few=2, eval_return_cap=eval_cap)
    _fill_replay(model, [(-800.0, 200, True), (-900.0, 200, True)])
    model._update_eval_command()
    assert float(model.policy.max_return) == (-800.0 if eval_cap else np.inf)
    command = model.policy.initial_command(1)
    np.testing.assert_allclose([c[0] for c in command], [-850.0, 200.0])  # the evaluation command: M, mean length
    for _ in range(20):  # the closed-loop update of predict(): each reward of -5 raises d_r by 5
        command = model.policy.next_command(command, np.array([-5.0]))
    assert command[0][0] == (-800.0 if eval_cap else -750.0) and command[1][0] == 180.0
    with pytest.raises(TypeError, match="eval_return_cap must be True or False"):
        UDRL("MlpPolicy", "CartPole-v1", eval_return_cap="False")


def test_store_truncated_false_drops_time_limit_cuts():
    """Truncated episodes stay out of the replay once it holds a terminated one (their horizon is the time limit's)."""
    env = gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=12)
    kept = UDRL("MlpPolicy", env, seed=0, store_truncated=True, **TINY).learn(600).replay_buffer
    dropped = UDRL("MlpPolicy", env, seed=0, **TINY).learn(600).replay_buffer  # the default
    assert kept.ep_truncated[: kept.n_episodes].any()
    terminated = ~dropped.ep_truncated[: dropped.n_episodes]
    assert terminated.any()
    # Only truncated episodes that came before the first terminated one can remain
    assert dropped.ep_truncated[: dropped.n_episodes].sum() < kept.ep_truncated[: kept.n_episodes].sum()
    # Pendulum only truncates: its episodes are all stored
    pendulum = UDRL("MlpPolicy", "Pendulum-v1", seed=0, store_truncated=False, **TINY).learn(1000)
    assert pendulum.replay_buffer.n_episodes == pendulum._episode_num >= 5


def test_store_truncated_is_a_bool():
    """store_truncated is True or False; anything else (the removed "recent" included) is refused by name."""
    for bad in ("recent", "sometimes", "False", 1):
        with pytest.raises(TypeError, match="store_truncated must be True or False"):
            UDRL("MlpPolicy", "CartPole-v1", store_truncated=bad)


def test_store_truncated_rule_follows_the_model_on_load(tmp_path):
    """A replay saved under one time-limit rule follows the loading model's rule; a bad value given to load() is refused."""
    env = gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=12)
    kept = UDRL("MlpPolicy", env, seed=0, store_truncated=True, recent_episodes=5, **TINY).learn(600)
    kept.save(tmp_path / "model")
    kept.save_replay_buffer(tmp_path / "replay")
    assert kept.replay_buffer.ep_truncated[: kept.replay_buffer.n_episodes].any()
    dropping = UDRL.load(tmp_path / "model", env=env, store_truncated=False)
    dropping.load_replay_buffer(tmp_path / "replay")
    n_added = dropping.replay_buffer.n_added
    dropping.learn(300, reset_num_timesteps=False)
    buffer = dropping.replay_buffer
    assert buffer.n_added > n_added  # episodes arrived...
    assert (buffer.ep_id[: buffer.n_episodes][buffer.ep_truncated[: buffer.n_episodes]] < n_added).all()  # ...no cut
    with pytest.raises(TypeError, match="store_truncated must be True or False"):
        UDRL.load(tmp_path / "model", env=env, store_truncated="recent")


def test_overlap_training():
    """Updates in a learner process: reproducible, every episode stored, weights, Adam state and training RNG copied
    back, the process stopped when a callback ends the run, divergence reported in the main process."""

    def run(**kwargs):
        env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
        return UDRL("MlpPolicy", env, seed=0, overlap_training=True, **{**TINY, "replay_size": 1000, **kwargs})

    first, second = run().learn(1500), run().learn(1500)
    assert first._n_updates > 0 and first._learner is None
    for a, b in zip(first.policy.parameters(), second.policy.parameters(), strict=True):
        assert th.equal(a, b)
    assert first.replay_buffer.n_episodes == first._episode_num
    # The acting policy received the learner's weights, Adam state and training RNG
    assert first.policy.optimizer.state_dict()["state"][0]["step"] == first._n_updates
    sync = UDRL("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), seed=0, **{**TINY, "replay_size": 1000})
    assert first._train_rng.bit_generator.state != sync._train_rng.bit_generator.state
    # A callback stopping the run mid-collection ends learn() with the process stopped
    stopped = run().learn(100_000, callback=StopTrainingOnMaxEpisodes(max_episodes=30))
    assert stopped.num_timesteps < 100_000 and stopped._learner is None
    diverging = run(learning_rate=1e30)
    with pytest.raises(ValueError, match="Training diverged"):
        diverging.learn(5000)
    assert diverging._learner is None
    assert all(th.isfinite(param).all() for param in diverging.policy.parameters())


def _flat_values(state: dict) -> list:
    values = []
    for value in state.values():
        values.extend(_flat_values(value) if isinstance(value, dict) else [value])
    return values


def test_overlap_training_checkpoints_the_acting_policy(tmp_path):
    """Callbacks run while the learner process trains; checkpoints saved then load and act like the saved model."""
    from stable_baselines3.common.callbacks import CheckpointCallback

    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = UDRL("MlpPolicy", env, seed=0, overlap_training=True, **TINY)
    seen, threads = [], []

    class Probe(BaseCallback):
        def _on_step(self) -> bool:
            seen.append(self.model._learner is not None)
            threads.append(th.get_num_threads())
            return True

    th.set_num_threads(2)
    model.learn(2000, callback=[Probe(), CheckpointCallback(save_freq=250, save_path=str(tmp_path), name_prefix="m")])
    assert any(seen)
    # The acting process uses one torch thread while the learner process trains, and gets its threads back after
    assert set(threads) == {1} and th.get_num_threads() == 2
    # The weights and optimiser state came back from the learner as copies: no tensor aliases the learner's memory,
    # which the next order would update in place while a checkpoint is written (corrupt zip members)
    for state in model._torch_state().values():
        tensors = [value for value in _flat_values(state) if isinstance(value, th.Tensor)]
        assert tensors and not any(tensor.is_shared() for tensor in tensors)
    checkpoints = sorted(tmp_path.glob("m_*.zip"), key=lambda path: int(path.stem.split("_")[1]))
    assert len(checkpoints) >= 4
    for checkpoint in checkpoints:  # every checkpoint written while the learner trained loads
        loaded = UDRL.load(checkpoint)
    assert loaded.overlap_training and loaded.store_truncated is False
