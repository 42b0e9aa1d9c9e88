"""Faults and bad input, the same for UDRL, RCPR and RCPA: no silent corruption, no hang, no lost file."""

import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnvWrapper

from sb3_udrl import RCPA, UDRL
from tests.conftest import MODEL_LIST, TINY_KWARGS

IDS = [model_class.__name__ for model_class in MODEL_LIST]


def make(model_class, env, **kwargs):
    return model_class("MlpPolicy", env, seed=0, **{**TINY_KWARGS[model_class], **kwargs})


class CountingEnv(gym.Env):
    """Observation = the step index within the episode; episodes of 3 to 9 steps (or never ending)."""

    observation_space = spaces.Box(0, np.inf, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, endless: bool = False, nan_at: int | None = None, reward: float = 1.0) -> None:
        self.endless, self.nan_at, self.reward = endless, nan_at, reward
        self.t, self.length, self.total_steps = 0, 0, 0

    def _obs(self):
        value = np.nan if self.nan_at is not None and self.total_steps >= self.nan_at else self.t
        return np.array([value], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.length = 0, int(self.np_random.integers(3, 10))
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        self.total_steps += 1
        terminated = not self.endless and self.t >= self.length
        return self._obs(), self.reward, terminated, False, {}


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_every_stored_episode_is_one_real_episode(model_class):
    """learn() again (the env is reset) or after a callback stopped mid-episode: no episode glued onto another."""

    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 37

    model = make(model_class, make_vec_env(CountingEnv, n_envs=2, seed=0))
    model.learn(500, callback=StopAt())
    model.learn(500, callback=StopAt(), reset_num_timesteps=False)  # after a stop mid-step
    model.learn(300)  # reset_num_timesteps=True: SB3 resets the env
    model.learn(300, reset_num_timesteps=False)
    buffer = model.replay_buffer
    for i in range(buffer.n_episodes):
        observations, _, _ = buffer.episode(i)
        np.testing.assert_array_equal(observations[:, 0], np.arange(len(observations)))


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_non_finite_observation_refused_before_storing(model_class):
    model = make(model_class, CountingEnv(nan_at=300))
    with pytest.raises(ValueError, match="non-finite values"):
        model.learn(2000)
    buffer = model.replay_buffer
    assert buffer.n_episodes > 0 and np.all(np.isfinite(buffer.observations[: buffer.pos]))


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_endless_episodes_stop_at_the_budget(model_class):
    model = make(model_class, make_vec_env(lambda: CountingEnv(endless=True), n_envs=2))
    model.learn(1000)
    assert 1000 <= model.num_timesteps < 1000 + 2


def test_float32_overflow_is_reported():
    with pytest.raises(ValueError, match="overflows float32"):
        make(UDRL, CountingEnv(reward=1e38)).learn(200)
    with pytest.raises(ValueError, match="batch_size must be <="):
        UDRL("MlpPolicy", "CartPole-v1", batch_size=2**30)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_predict_state_for_other_envs_refused(model_class):
    model = make(model_class, make_vec_env("CartPole-v1", n_envs=2))
    obs = model.get_env().reset()
    _, state = model.predict(obs)
    with pytest.raises(ValueError, match="state"):
        model.predict(np.concatenate([obs, obs[:1]]), state=state)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_replay_with_other_settings_refused(model_class, tmp_path):
    model = make(model_class, "CartPole-v1").learn(400)
    model.save_replay_buffer(tmp_path / "replay")
    same = make(model_class, "CartPole-v1")
    same.load_replay_buffer(tmp_path / "replay.pkl")
    assert same.replay_buffer.n_episodes == model.replay_buffer.n_episodes
    size = "replay_size" if model_class is UDRL else "buffer_size"
    other = make(model_class, "CartPole-v1", **{size: 7})
    with pytest.raises(ValueError, match="settings"):
        other.load_replay_buffer(tmp_path / "replay.pkl")
    assert other.replay_buffer is None


def test_foreign_save_files_refused(tmp_path):
    PPO("MlpPolicy", "CartPole-v1").save(tmp_path / "ppo.zip")
    with pytest.raises(ValueError, match=r"ppo.zip is not a UDRL save file: .*ActorCriticPolicy"):
        UDRL.load(tmp_path / "ppo.zip")
    make(RCPA, "CartPole-v1").save(tmp_path / "rcpa")
    with pytest.raises(ValueError, match=r"holds a RCPA model, not a UDRL one"):
        UDRL.load(tmp_path / "rcpa.zip")
    assert isinstance(RCPA.load(tmp_path / "rcpa"), RCPA)


class LearnerSignal(BaseCallback):
    """Sends ``signal`` to the learner process once it is running."""

    def __init__(self, sig: int) -> None:
        super().__init__()
        self.sig = sig
        self.torch_threads: set[int] = set()

    def _on_step(self) -> bool:
        self.torch_threads.add(th.get_num_threads())
        learner = self.model._learner
        if learner is not None and self.sig is not None:
            learner.timeout = 2.0
            os.kill(learner._process.pid, self.sig)
            self.sig = None
        return True


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
@pytest.mark.parametrize("sig, match", [(signal.SIGKILL, "died"), (signal.SIGSTOP, "hung")])
def test_learner_process_death_and_hang_detected(model_class, sig, match):
    model = make(model_class, make_vec_env("CartPole-v1", n_envs=2, seed=0), overlap_training=True)
    start = time.monotonic()
    th.set_num_threads(2)
    callback = LearnerSignal(sig)
    with pytest.raises(RuntimeError, match=match):
        model.learn(20_000, callback=callback)
    assert time.monotonic() - start < 60 and model._learner is None
    # The acting process used one torch thread next to its learner, and got its threads back on the error path too
    assert callback.torch_threads == {1} and th.get_num_threads() == 2


SAVER = """
import sys
import sb3_udrl
model = getattr(sb3_udrl, sys.argv[3])("MlpPolicy", "CartPole-v1", seed=0, n_warm_up_episodes=30).learn(3000)
model.save(sys.argv[1]); model.save_replay_buffer(sys.argv[2])
print("ready", flush=True)
while True:
    model.save(sys.argv[1]); model.save_replay_buffer(sys.argv[2])
"""


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_kill_during_save_keeps_the_previous_files(model_class, tmp_path):
    """SIGKILL while save() / save_replay_buffer() rewrite their files: both still load (written atomically)."""
    model_path, replay_path = tmp_path / "model.zip", tmp_path / "replay.pkl"
    rng = np.random.default_rng(0)
    for _ in range(2):
        command = [sys.executable, "-c", SAVER, str(model_path), str(replay_path), model_class.__name__]
        process = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.5))
        process.kill()
        process.wait()
        loaded = model_class.load(model_path, env=gym.make("CartPole-v1"))
        loaded.load_replay_buffer(replay_path)
        assert loaded.replay_buffer.n_episodes > 0


def test_subclasses_and_file_likes_load(tmp_path):
    """A user's subclass saves as its algorithm; a foreign file-like gets the same ValueError as a path."""
    import io

    class MyRCPA(RCPA):
        pass

    MyRCPA("MlpPolicy", "CartPole-v1", **TINY_KWARGS[RCPA]).save(tmp_path / "mine.zip")
    assert isinstance(RCPA.load(tmp_path / "mine.zip"), RCPA)
    buffer = io.BytesIO()
    make(UDRL, "CartPole-v1").save(buffer)
    buffer.seek(0)
    with pytest.raises(ValueError, match="holds a UDRL model, not a RCPA one"):
        RCPA.load(buffer)
    buffer.seek(0)
    assert isinstance(UDRL.load(buffer), UDRL)


def test_replays_of_earlier_versions_load(tmp_path):
    """Replays pickled before final observations were stored load with zeros there, and training goes on."""
    import pickle

    model = make(UDRL, "CartPole-v1").learn(400)
    state = dict(model.replay_buffer.__dict__)
    del state["ep_final_obs"]
    old = object.__new__(type(model.replay_buffer))
    old.__dict__.update(state)
    with open(tmp_path / "old.pkl", "wb") as file:
        pickle.dump(old, file)
    fresh = make(UDRL, "CartPole-v1")
    fresh.load_replay_buffer(tmp_path / "old.pkl")
    assert fresh.replay_buffer.ep_final_obs.shape[0] == len(fresh.replay_buffer.ep_start)
    fresh.learn(600)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_discrete_actions_not_starting_at_zero_refused(model_class):
    """Discrete(3, start=5) trained into a divergence (the policies' actions are indices 0..n-1): refused at once."""
    env = CountingEnv()
    env.action_space = spaces.Discrete(3, start=5)
    for candidate in (env, make_vec_env(lambda: env, n_envs=1)):
        with pytest.raises(ValueError, match=r"Discrete action spaces starting at 0 only, got Discrete\(3, start=5\)"):
            make(model_class, candidate)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
@pytest.mark.parametrize("reward", [1e30, 1.0])
def test_divergence_names_huge_rewards_as_the_cause(model_class, reward):
    """A divergence on a replay of huge rewards names the reward scale (not only the learning rate); with usual
    rewards the advice is the learning rate's, as before."""
    model = make(model_class, CountingEnv(reward=reward), n_updates_per_iter=0).learn(100)
    with pytest.raises(ValueError, match="Training diverged") as error:
        with model._restore_if_diverged():
            raise ValueError("non-finite training loss (inf)")
    if reward > 1e6:
        assert "rewards reach 1e+30" in str(error.value) and "TransformReward(env, lambda r: r * 1e-30)" in str(error.value)
    else:
        assert "lower learning_rate (or the command scales)" in str(error.value) and "reward" not in str(error.value)


def test_rcpa_on_huge_rewards_names_the_reward_scale():
    """RCP-A's value loss overflows float32 on rewards of 1e30: the error says to scale them."""
    with pytest.raises(ValueError, match=r"Training diverged .*rewards reach 1e\+30.*TransformReward"):
        make(RCPA, CountingEnv(reward=1e30)).learn(300)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_truncated_replay_file_refused_and_replay_kept(model_class, tmp_path):
    model = make(model_class, "CartPole-v1").learn(400)
    path = tmp_path / "replay.pkl"
    model.save_replay_buffer(path)
    os.truncate(path, path.stat().st_size // 2)  # a half-written file
    replay, n_episodes = model.replay_buffer, model.replay_buffer.n_episodes
    with pytest.raises(ValueError, match=r"replay.pkl is truncated or corrupt"):
        model.load_replay_buffer(path)
    assert model.replay_buffer is replay and replay.n_episodes == n_episodes


class ShapeChangingEnv(CountingEnv):
    """CountingEnv whose observations get a second entry from step ``change_at`` on (or only at episode ends)."""

    def __init__(self, change_at: int = 100, final_only: bool = False) -> None:
        super().__init__()
        self.change_at, self.final_only = change_at, final_only

    def _obs(self):
        obs = super()._obs()
        changed = self.total_steps >= self.change_at and (not self.final_only or self.t >= self.length)
        return np.concatenate([obs, obs]) if changed else obs


class GrowingObservations(VecEnvWrapper):
    """Observations of every env get a second entry after ``after`` steps (as SubprocVecEnv stacks them)."""

    def __init__(self, venv, after: int = 100) -> None:
        super().__init__(venv)
        self.after, self.steps = after, 0

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self.steps += 1
        return (np.concatenate([obs, obs], axis=1) if self.steps > self.after else obs), rewards, dones, infos


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
@pytest.mark.parametrize("case", ["dummy_vec_env", "vec_env", "final_observation"])
def test_observation_shape_change_named(model_class, case):
    """An env whose observations change shape mid-run: a ValueError naming both shapes (not numpy's broadcast error),
    whether the VecEnv's buffer, the staging or the final observation meets it first."""
    env = {
        "dummy_vec_env": lambda: ShapeChangingEnv(),
        "vec_env": lambda: GrowingObservations(make_vec_env(CountingEnv, n_envs=2, seed=0)),
        "final_observation": lambda: ShapeChangingEnv(final_only=True),
    }[case]()
    with pytest.raises(ValueError, match=r"observation of shape \(2,\), but its observation space has shape \(1,\)"):
        make(model_class, env).learn(1000)


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_a_replay_that_cannot_fit_is_refused_before_training(model_class, monkeypatch):
    """The most the replay can hold (episodes up to the env's time limit) is checked
    against the available memory when learn() starts: ValueError naming the setting to lower."""
    env = make_vec_env("CartPole-v1", n_envs=2)  # time limit 500 steps
    size = dict(replay_size=100_000) if model_class is UDRL else dict(buffer_size=10_000_000)
    model = make(model_class, env, **size)
    monkeypatch.setattr("sb3_udrl.common.buffers.available_memory", lambda: 2**28)  # 256 MiB
    with pytest.raises(ValueError, match="replay_size" if model_class is UDRL else "buffer_size"):
        model.learn(100)
    assert model.num_timesteps == 0
    make(model_class, env).learn(100)  # the tiny setting fits


def test_a_script_without_the_main_guard_fails_instead_of_hanging(tmp_path):
    """overlap_training spawns its learner, which re-imports the script: without the __main__ guard the learner dies
    while starting. The script must stop with an error that names the guard, not block on sending the model."""
    script = tmp_path / "no_guard.py"
    script.write_text(
        "from stable_baselines3.common.env_util import make_vec_env\n"
        "from sb3_udrl import RCPA\n"
        "model = RCPA('MlpPolicy', make_vec_env('CartPole-v1', 2), overlap_training=True, n_steps_per_iter=0,\n"
        "             n_warm_up_episodes=2, n_episodes_per_iter=2, n_updates_per_iter=2, batch_size=16)\n"
        "model.learn(2000)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode != 0
    assert "RuntimeError: The learner process of overlap_training died" in result.stderr
    assert '__name__ == "__main__"' in result.stderr
