import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback, StopTrainingOnMaxEpisodes
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize

from sb3_udrl import UDRL, RewardFeedback
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


def test_store_truncated_recent_keeps_time_limit_cuts_only_while_recent():
    """store_truncated="recent": time-limit cuts enter the replay (the behaviour function sees what the agent does now)
    but only the recent window holds them; bad values are refused by name."""
    env = gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=12)
    model = UDRL("MlpPolicy", env, seed=0, store_truncated="recent", recent_episodes=5, **TINY).learn(600)
    buffer = model.replay_buffer
    assert buffer.truncated_recent_only
    truncated = buffer.ep_truncated[: buffer.n_episodes]
    assert truncated.any() and (~truncated).any()
    assert buffer.recent_mask()[truncated].all()  # no truncated episode outside the 5 most recent
    with pytest.raises(ValueError, match="store_truncated must be one of"):
        UDRL("MlpPolicy", "CartPole-v1", store_truncated="sometimes")
    with pytest.raises(ValueError, match='store_truncated="recent" needs recent_episodes > 0'):
        UDRL("MlpPolicy", "CartPole-v1", store_truncated="recent", recent_episodes=0, recent_command=False)


def test_store_truncated_rule_follows_the_model_on_load(tmp_path):
    """A replay saved under one time-limit rule follows the loading model's rule; a bad value given to load() is refused."""
    env = gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=12)
    kept = UDRL("MlpPolicy", env, seed=0, store_truncated=True, recent_episodes=5, **TINY).learn(600)
    kept.save(tmp_path / "model")
    kept.save_replay_buffer(tmp_path / "replay")
    assert not kept.replay_buffer.recent_mask()[kept.replay_buffer.ep_truncated[: kept.replay_buffer.n_episodes]].all()
    recent = UDRL.load(tmp_path / "model", env=env, store_truncated="recent")
    recent.load_replay_buffer(tmp_path / "replay")
    assert recent.replay_buffer.truncated_recent_only
    recent.learn(300, reset_num_timesteps=False)
    buffer = recent.replay_buffer
    assert buffer.recent_mask()[buffer.ep_truncated[: buffer.n_episodes]].all()  # the old cuts left with the window
    with pytest.raises(ValueError, match="store_truncated must be one of"):
        UDRL.load(tmp_path / "model", env=env, store_truncated="recnt")


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


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_greedy_episodes_act_with_the_mode(env_id):
    """greedy_episodes: that fraction of the training episodes, drawn per episode, act with the mode of B(s, c)."""

    class CheckActions(BaseCallback):
        greedy_steps, steps = 0, 0

        def _on_step(self) -> bool:
            model, greedy = self.model, self.model._greedy
            if not self.locals["random_actions"]:
                mode = model._act(model._base_obs(model._last_obs), model._command, True)
                np.testing.assert_array_equal(self.locals["actions"][greedy], mode[greedy])
                assert not np.any(self.locals["actions"][~greedy] == mode[~greedy]) or env_id == "CartPole-v1"
                self.greedy_steps += int(greedy.sum())
                self.steps += len(greedy)
            return True

    callback = CheckActions()
    env = make_vec_env(env_id, n_envs=4, seed=0)
    # Pendulum with the Gaussian: a sampled action never equals the mode, so the check above tells the two apart
    action_bins = None if env_id == "Pendulum-v1" else 11
    UDRL("MlpPolicy", env, seed=0, greedy_episodes=0.5, action_bins=action_bins, **TINY).learn(4000, callback=callback)
    assert 0.3 < callback.greedy_steps / callback.steps < 0.7
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="greedy_episodes"):
            UDRL("MlpPolicy", "CartPole-v1", greedy_episodes=bad)


def test_hold_prob_holds_random_actions_within_an_episode():
    """hold_prob=1: every training action after the warm-up is held for hold_steps steps, counted from the episode's
    start (a held action ends with its episode), and drawn from the whole action space."""

    class RecordEpisodeActions(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.episodes: list[list[list[np.ndarray]]] = [[[]] for _ in range(2)]

        def _on_step(self) -> bool:
            for i in range(2):
                if not self.locals["random_actions"]:
                    self.episodes[i][-1].append(self.locals["actions"][i].copy())
                if self.locals["dones"][i]:
                    self.episodes[i].append([])
            return True

    callback = RecordEpisodeActions()
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 23})
    model = UDRL("MlpPolicy", env, seed=0, hold_prob=1.0, hold_steps=5, **TINY)
    model.learn(3000, callback=callback)
    n_blocks, values = 0, set()
    for env_episodes in callback.episodes:
        # the first one started during the warm-up, the last one is cut by the budget
        for episode in env_episodes[1:-1]:
            assert len(episode) == 23
            for start in range(0, 23, 5):
                block = np.stack(episode[start : start + 5])
                np.testing.assert_array_equal(block, np.broadcast_to(block[0], block.shape))
                values.add(float(block[0, 0]))
                n_blocks += 1
    assert n_blocks > 100 and len(values) == 11  # every one of the 11 bins is held at some point
    for name, bad in (("hold_prob", -0.1), ("hold_prob", 1.5), ("hold_steps", 0), ("hold_fraction", 0.0)):
        with pytest.raises(ValueError, match=name):
            UDRL("MlpPolicy", "CartPole-v1", **{name: bad})


class RecordActions(BaseCallback):
    """The actions of every training step (all envs), split by whether they were the warm-up's random ones."""

    def __init__(self) -> None:
        super().__init__()
        self.actions: dict[bool, list[np.ndarray]] = {True: [], False: []}

    def _on_step(self) -> bool:
        self.actions[bool(self.locals["random_actions"])].append(np.array(self.locals["actions"]))
        return True


def test_hold_action_holds_that_action_only(tmp_path):
    """hold_action=1 with hold_prob=1: every training action after the warm-up is the held action, while the warm-up's
    random episodes still draw every action; the setting is saved. An action outside a Discrete space, or one that is
    not an action of a Box space, is refused."""
    callback = RecordActions()
    model = UDRL("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), seed=0, hold_prob=1.0, hold_action=1, **TINY)
    model.learn(2000, callback=callback)
    random_actions, policy_actions = (np.concatenate(callback.actions[random]).tolist() for random in (True, False))
    assert set(random_actions) == {0, 1}
    assert len(policy_actions) > 1000 and set(policy_actions) == {1}
    model.save(tmp_path / "model.zip")
    assert UDRL.load(tmp_path / "model.zip").hold_action == 1
    with pytest.raises(ValueError, match="hold_action=2 is not an action"):
        UDRL("MlpPolicy", "CartPole-v1", hold_action=2)
    with pytest.raises(TypeError, match="hold_action must be"):
        UDRL("MlpPolicy", "CartPole-v1", hold_action=0.5)
    with pytest.raises(ValueError, match="hold_action=0 is not an action"):
        UDRL("MlpPolicy", "Pendulum-v1", hold_action=0)


def test_box_hold_action_holds_that_action(tmp_path):
    """Box actions: hold_action=[-1.0, 0.0] (LunarLanderContinuous' engines off) with hold_prob=1 makes every training
    action after the warm-up that action, with binned and with Gaussian actions; saved. Wrong shapes, values outside
    the bounds and non-numbers are refused."""
    for action_bins in (11, None):
        callback = RecordActions()
        env = make_vec_env("LunarLanderContinuous-v3", n_envs=2, seed=0)
        model = UDRL("MlpPolicy", env, seed=0, hold_prob=1.0, hold_action=[-1.0, 0.0], action_bins=action_bins, **TINY)
        model.learn(1500, callback=callback)
        assert len(callback.actions[False]) > 100
        assert all(np.array_equal(a, [[-1.0, 0.0]] * 2) for a in callback.actions[False])
    model.save(tmp_path / "model.zip")
    assert UDRL.load(tmp_path / "model.zip").hold_action == [-1.0, 0.0]
    for bad, error, match in (
        ([-1.0], ValueError, r"hold_action=\[-1.0\] is not an action"),
        ([2.0, 0.0], ValueError, "is not an action of the action space"),
        (["a", 0.0], TypeError, "hold_action must be an action of the Box"),
        ("engines off", TypeError, "hold_action must be an action of the Box"),
    ):
        with pytest.raises(error, match=match):
            UDRL("MlpPolicy", "LunarLanderContinuous-v3", hold_action=bad)
    with pytest.raises(TypeError, match="hold_action must be an int"):
        UDRL("MlpPolicy", "CartPole-v1", hold_action=[0])


def test_hold_fraction_stops_holds_once_the_decay_ends():
    """hold_fraction=0.5: holds start, ever more rarely, in the first half of the budget and never after it."""
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 23})
    model = UDRL("MlpPolicy", env, seed=0, hold_prob=1.0, hold_steps=5, hold_fraction=0.5, **TINY)
    starts: list[int] = []
    random_actions = model.policy.random_actions

    def record(n: int) -> np.ndarray:
        if model.replay_buffer is not None and model.replay_buffer.n_episodes > 0:  # after the warm-up
            starts.extend([model.num_timesteps] * n)
        return random_actions(n)

    model.policy.random_actions = record  # type: ignore[method-assign]
    model.learn(4000)
    first, second = sum(t < 1000 for t in starts), sum(1000 <= t < 2000 for t in starts)
    assert first > second > 0  # decaying: fewer holds start in the second quarter than in the first
    # the probability is updated after each iteration (2 episodes of 23 steps on 2 envs)
    assert max(starts) < 2000 + 2 * 23


@pytest.mark.parametrize(
    "env_id, expected",
    [
        ("LunarLander-v3", (0.008, 0.333, 0, "lunar_lander_ground", 0.0)),
        ("CartPole-v1", (0.0, None, None, None, 0.0)),
        ("LunarLanderSparse-v3", (0.008, 0.333, 0, "lunar_lander_ground", 0.008)),
        ("LunarLanderContinuous-v3", (0.008, 0.333, [-1.0, 0.0], "lunar_lander_ground", 0.0)),
    ],
)
def test_auto_holds_follow_the_env_id(env_id, expected, tmp_path):
    """hold_prob="auto" (UDRL's default) resolves at construction to the holds registered for the env id, and is saved
    resolved."""
    model = UDRL("MlpPolicy", env_id)
    names = ("hold_prob", "hold_fraction", "hold_action", "hold_when", "hold_elsewhere_prob")
    assert tuple(getattr(model, name) for name in names) == expected
    model.save(tmp_path / "model.zip")
    loaded = UDRL.load(tmp_path / "model.zip")
    assert tuple(getattr(loaded, name) for name in names) == expected


def test_auto_holds_keep_what_is_given(tmp_path):
    """An explicit hold_prob (the paper's 0) wins over "auto", also when loading with the env; hold_fraction /
    hold_action given with "auto" are kept;
    anything else than a number or "auto" is refused by name."""
    paper = UDRL("MlpPolicy", "LunarLander-v3", **PAPER_HYPERPARAMS)
    assert paper.hold_prob == 0.0
    paper.save(tmp_path / "paper.zip")  # loading with the env does not resolve "auto" again
    assert UDRL.load(tmp_path / "paper.zip", env=make_vec_env("LunarLander-v3")).hold_prob == 0.0
    model = UDRL("MlpPolicy", "LunarLander-v3", hold_fraction=0.5, hold_action=2)
    assert (model.hold_prob, model.hold_fraction, model.hold_action) == (0.008, 0.5, 2)
    changed = gym.wrappers.TransformObservation(  # a wrapper changed the observations "lunar_lander_ground" reads
        gym.make("LunarLander-v3"), lambda obs: obs[:6], gym.spaces.Box(-np.inf, np.inf, (6,), np.float32)
    )
    assert UDRL("MlpPolicy", changed).hold_prob == 0.0
    with pytest.raises(ValueError, match="hold_prob must be a number in \\[0, 1\\] or 'auto'"):
        UDRL("MlpPolicy", "CartPole-v1", hold_prob="always")


def test_hold_when_starts_holds_on_the_ground_only(tmp_path):
    """hold_when="lunar_lander_ground" with hold_prob=1: every hold starts at a step where a leg touches the ground,
    and every such step not already holding starts one; the setting is saved; a name or observations it does not know
    are refused at construction."""
    env = make_vec_env("LunarLander-v3", n_envs=4, seed=0)
    kwargs = dict(TINY, hold_prob=1.0, hold_steps=3, hold_action=0, hold_when="lunar_lander_ground")
    model = UDRL("MlpPolicy", env, seed=0, **kwargs)
    hold, starts = model._hold, []

    def record(actions: np.ndarray) -> np.ndarray:
        free = model._held is None or model._held[1] == 0
        ground = (model._last_obs[:, 6] > 0) | (model._last_obs[:, 7] > 0)
        out = hold(actions)
        starts.append((ground & free, model._held[1] == 2))  # a hold just started: 3 steps, one used
        return out

    model._hold = record  # type: ignore[method-assign]
    model.learn(3000)
    may_start = np.concatenate([may for may, _ in starts])
    started = np.concatenate([did for _, did in starts])
    assert started.sum() > 10 and np.array_equal(started, may_start)
    model.save(tmp_path / "model.zip")
    assert UDRL.load(tmp_path / "model.zip").hold_when == "lunar_lander_ground"
    with pytest.raises(ValueError, match="hold_when must be None or one of"):
        UDRL("MlpPolicy", "LunarLander-v3", hold_when="ground")
    with pytest.raises(ValueError, match=r"hold_when='lunar_lander_ground' needs Box observations of shape \(8,\)"):
        UDRL("MlpPolicy", "CartPole-v1", hold_when="lunar_lander_ground")


def test_hold_elsewhere_prob_holds_random_actions_where_hold_when_does_not(tmp_path):
    """hold_when="lunar_lander_ground", hold_action=0 and hold_elsewhere_prob=1: every step not already holding starts
    a hold, of the no-op on the ground and of a random action (all four drawn) in the air; saved. Without hold_when,
    or outside [0, 1], it is refused by name."""
    env = make_vec_env("LunarLander-v3", n_envs=4, seed=0)
    kwargs = dict(TINY, hold_prob=1.0, hold_steps=3, hold_action=0, hold_when="lunar_lander_ground")
    model = UDRL("MlpPolicy", env, seed=0, hold_elsewhere_prob=1.0, **kwargs)
    hold, ground_starts, air_starts = model._hold, [], []

    def record(actions: np.ndarray) -> np.ndarray:
        free = np.ones(len(actions), dtype=bool) if model._held is None else model._held[1] == 0
        ground = (model._last_obs[:, 6] > 0) | (model._last_obs[:, 7] > 0)
        out = hold(actions)
        started = model._held[1] == 2  # a hold just started: 3 steps, one used
        assert np.array_equal(started, free)  # with both probabilities at 1, every free env starts one
        ground_starts.extend(out[started & ground].tolist())
        air_starts.extend(out[started & ~ground].tolist())
        return out

    model._hold = record  # type: ignore[method-assign]
    model.learn(3000)
    assert len(ground_starts) > 10 and set(ground_starts) == {0}
    assert len(air_starts) > 100 and set(air_starts) == {0, 1, 2, 3}
    model.save(tmp_path / "model.zip")
    assert UDRL.load(tmp_path / "model.zip").hold_elsewhere_prob == 1.0
    assert UDRL("MlpPolicy", "LunarLander-v3", hold_prob=0.0).hold_elsewhere_prob == 0.0
    with pytest.raises(ValueError, match=r"hold_elsewhere_prob=0\.5 needs hold_when"):
        UDRL("MlpPolicy", "CartPole-v1", hold_elsewhere_prob=0.5)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="hold_elsewhere_prob"):
            UDRL("MlpPolicy", "LunarLander-v3", hold_elsewhere_prob=bad)


def test_hold_elsewhere_fraction_ends_the_holds_in_the_air_first(tmp_path):
    """hold_elsewhere_fraction=0.5 with hold_fraction=None: holds in the air start only over the first half of the
    budget, holds on the ground throughout; saved; None follows hold_fraction; outside (0, 1] it is refused by name."""
    env = make_vec_env("LunarLander-v3", n_envs=4, seed=0)
    kwargs = dict(TINY, hold_prob=1.0, hold_steps=3, hold_action=0, hold_when="lunar_lander_ground")
    model = UDRL("MlpPolicy", env, seed=0, hold_elsewhere_prob=1.0, hold_elsewhere_fraction=0.5, **kwargs)
    hold, ground_starts, air_starts = model._hold, [], []

    def record(actions: np.ndarray) -> np.ndarray:
        ground = (model._last_obs[:, 6] > 0) | (model._last_obs[:, 7] > 0)
        out = hold(actions)
        started = model._held[1] == 2  # a hold just started: 3 steps, one used
        ground_starts.extend([model._current_progress_remaining] * int((started & ground).sum()))
        air_starts.extend([model._current_progress_remaining] * int((started & ~ground).sum()))
        return out

    model._hold = record  # type: ignore[method-assign]
    model.learn(6000)
    assert len(air_starts) > 100 and min(air_starts) > 0.5  # the decay reaches 0 at half the budget
    assert sum(progress < 0.5 for progress in ground_starts) > 10
    model.save(tmp_path / "model.zip")
    assert UDRL.load(tmp_path / "model.zip").hold_elsewhere_fraction == 0.5
    assert UDRL("MlpPolicy", "LunarLanderSparse-v3").hold_elsewhere_fraction is None  # hold_fraction's decay
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="hold_elsewhere_fraction"):
            UDRL("MlpPolicy", "LunarLander-v3", hold_elsewhere_fraction=bad)
