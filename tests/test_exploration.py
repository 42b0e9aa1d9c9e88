"""Env knowledge as opt-in objects: ActionHolds (``action_holds=``), Mirror (``mirror=``), LunarLander's in
``sb3_udrl.envs``, and no algorithm that reads the env's id."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_udrl import RCPA, RCPR, UDRL, RewardFeedback
from sb3_udrl.common.exploration import ActionHolds, named_holds
from sb3_udrl.common.symmetry import Mirror
from sb3_udrl.envs.lunar_lander import ground_holds, leg_on_ground, lunar_lander_mirror
from sb3_udrl.zoo import resolve_objects
from tests.conftest import TINY

SMALL = {
    UDRL: TINY,
    RCPR: dict(n_warm_up_episodes=2, n_steps_per_iter=256, n_updates_per_iter=5, batch_size=32),
    RCPA: dict(n_warm_up_episodes=2, n_steps_per_iter=256, n_updates_per_iter=5, n_value_updates_per_iter=5, batch_size=32),
}


class RecordActions(BaseCallback):
    """The actions of every training step (all envs), split by whether they were the warm-up's random ones."""

    def __init__(self) -> None:
        super().__init__()
        self.actions: dict[bool, list[np.ndarray]] = {True: [], False: []}

    def _on_step(self) -> bool:
        self.actions[bool(self.locals["random_actions"])].append(np.array(self.locals["actions"]))
        return True


def _fingerprint(model) -> list[np.ndarray]:
    """Weights and replay of a model."""
    buffer = model.replay_buffer
    n = buffer.n_episodes
    return [
        *(value.cpu().numpy() for value in model.policy.state_dict().values()),
        buffer.ep_return[:n].copy(),
        buffer.ep_length[:n].copy(),
    ]


@pytest.mark.parametrize("algorithm", [UDRL, RCPR, RCPA])
def test_the_same_seed_trains_identically_under_another_env_id(algorithm):
    """No algorithm reads the env id: LunarLander-v3 registered under another id gives the identical run (weights and
    replay), with each class's defaults."""
    if "CopiedLander-v0" not in gym.registry:
        gym.register("CopiedLander-v0", entry_point="gymnasium.envs.box2d.lunar_lander:LunarLander", max_episode_steps=1000)
    runs = []
    for env_id in ("LunarLander-v3", "CopiedLander-v0"):
        env = make_vec_env(env_id, n_envs=2, seed=5, wrapper_class=RewardFeedback, env_kwargs=dict(render_mode=None))
        runs.append(_fingerprint(algorithm("MlpPolicy", env, seed=5, **SMALL[algorithm]).learn(2500)))
    assert len(runs[0]) == len(runs[1])
    for original, copy in zip(*runs, strict=True):
        np.testing.assert_array_equal(original, copy)


def test_constructors_take_objects_not_names():
    """action_holds and mirror are objects (or None; action_holds also the named ez-greedy holds): a name to look up is
    refused by name."""
    with pytest.raises(TypeError, match="mirror must be a Mirror or None, got str"):
        UDRL("MlpPolicy", "LunarLander-v3", mirror="lunar_lander")
    names = r"action_holds must be an ActionHolds, one of \['ez_greedy', 'ez_greedy_decay'\] or None"
    with pytest.raises(ValueError, match=names + ", got 'auto'"):
        RCPA("MlpPolicy", "LunarLander-v3", action_holds="auto")
    with pytest.raises(TypeError, match=names + ", got float"):
        RCPA("MlpPolicy", "LunarLander-v3", action_holds=0.01)
    with pytest.raises(ValueError, match=names + ", got 'auto'"):  # the same check for callers of named_holds
        named_holds("auto", gym.spaces.Discrete(4))
    assert UDRL("MlpPolicy", "LunarLander-v3").action_holds is None  # nothing switched on by the env


@pytest.mark.parametrize("algorithm", [UDRL, RCPR, RCPA])
@pytest.mark.parametrize("name, fraction", [("ez_greedy", None), ("ez_greedy_decay", 0.5)])
def test_ez_greedy_holds_on_discrete_actions_only(algorithm, name, fraction, tmp_path):
    """action_holds="ez_greedy" is ez-greedy's ActionHolds(0.01, 10_000, zeta_mu=2) on Discrete actions and nothing on
    Box actions, chosen by the action space alone ("ez_greedy_decay": decaying over half the budget); it trains and is
    saved resolved, so a loaded model explores as the saved one did. The default is the paper's (no holds) for UDRL and
    RCPR, the decaying holds for RCPA."""
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    discrete = algorithm("MlpPolicy", env, seed=0, action_holds=name, **SMALL[algorithm])
    holds = discrete.action_holds
    assert isinstance(holds, ActionHolds)
    assert (holds.prob, holds.steps, holds.zeta_mu, holds.fraction) == (0.01, 10_000, 2.0, fraction)
    assert (holds.action, holds.condition) == (None, None)
    discrete.learn(1500)
    discrete.save(tmp_path / "model.zip")
    loaded = algorithm.load(tmp_path / "model.zip")
    assert isinstance(loaded.action_holds, ActionHolds) and (loaded.action_holds.zeta_mu, loaded.action_holds.fraction) == (
        2.0,
        fraction,
    )
    assert algorithm("MlpPolicy", "Pendulum-v1", action_holds=name).action_holds is None
    default = algorithm("MlpPolicy", "CartPole-v1").action_holds
    if algorithm is RCPA:
        assert isinstance(default, ActionHolds) and (default.prob, default.zeta_mu, default.fraction) == (0.01, 2.0, 0.5)
    else:
        assert default is None


def test_holds_hold_random_actions_within_an_episode():
    """prob=1: every training action after the warm-up is held for `steps` steps, counted from the episode's start (a
    held action ends with its episode), and drawn from the whole action space."""

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
    UDRL("MlpPolicy", env, seed=0, action_holds=ActionHolds(1.0, steps=5), **TINY).learn(3000, callback=callback)
    n_blocks, values = 0, set()
    for env_episodes in callback.episodes:
        for episode in env_episodes[1:-1]:  # the first started in the warm-up, the last is cut by the budget
            assert len(episode) == 23
            for start in range(0, 23, 5):
                block = np.stack(episode[start : start + 5])
                np.testing.assert_array_equal(block, np.broadcast_to(block[0], block.shape))
                values.add(float(block[0, 0]))
                n_blocks += 1
    assert n_blocks > 100 and len(values) == 11  # every one of the 11 bins is held at some point


@pytest.mark.parametrize("algorithm", [UDRL, RCPR, RCPA])
def test_holds_hold_the_given_action_on_every_algorithm(algorithm, tmp_path):
    """action=1 with prob=1: every training action after the warm-up is the held action, while the warm-up still draws
    every action; saved with the model."""
    callback = RecordActions()
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = algorithm("MlpPolicy", env, seed=0, action_holds=ActionHolds(1.0, action=1), **SMALL[algorithm])
    model.learn(2000, callback=callback)
    random_actions, policy_actions = (np.concatenate(callback.actions[random]).tolist() for random in (True, False))
    assert set(random_actions) == {0, 1}
    assert len(policy_actions) > 500 and set(policy_actions) == {1}
    model.save(tmp_path / "model.zip")
    assert algorithm.load(tmp_path / "model.zip").action_holds.action == 1


def test_box_holds_hold_the_given_action(tmp_path):
    """Box actions: [-1.0, 0.0] (LunarLanderContinuous' engines off) held with prob=1 is every training action after the
    warm-up, with binned and with Gaussian actions."""
    for action_bins in (11, None):
        callback = RecordActions()
        env = make_vec_env("LunarLanderContinuous-v3", n_envs=2, seed=0)
        holds = ActionHolds(1.0, action=[-1.0, 0.0])
        UDRL("MlpPolicy", env, seed=0, action_holds=holds, action_bins=action_bins, **TINY).learn(1500, callback=callback)
        assert len(callback.actions[False]) > 100
        assert all(np.array_equal(a, [[-1.0, 0.0]] * 2) for a in callback.actions[False])


def test_bad_holds_are_refused_by_name():
    """Bad settings fail when the object is made, an action outside the env's space when the model is made."""
    for kwargs, match in (
        (dict(prob=-0.1), "prob"),
        (dict(prob=1.5), "prob"),
        (dict(prob=0.5, steps=0), "steps"),
        (dict(prob=0.5, fraction=0.0), "fraction"),
        (dict(prob=0.5, otherwise_prob=0.5), "otherwise_prob=0.5 needs a condition"),
        (dict(prob=0.5, otherwise_prob=1.5, condition=leg_on_ground), "otherwise_prob"),
        (dict(prob=0.5, otherwise_fraction=2.0, condition=leg_on_ground), "otherwise_fraction"),
        (dict(prob=0.5, zeta_mu=1.0), "zeta_mu must be a finite number > 1"),
    ):
        with pytest.raises(ValueError, match=match):
            ActionHolds(**kwargs)
    with pytest.raises(TypeError, match="condition must be a function"):
        ActionHolds(0.5, condition="ground")
    for env_id, action, error, match in (
        ("CartPole-v1", 2, ValueError, "The hold action 2 is not an action of the action space Discrete"),
        ("CartPole-v1", 0.5, TypeError, "The hold action must be an int"),
        ("Pendulum-v1", 0, ValueError, "The hold action 0 is not an action of the action space Box"),
        ("LunarLanderContinuous-v3", [-1.0], ValueError, r"The hold action \[-1.0\] is not an action"),
        ("LunarLanderContinuous-v3", [2.0, 0.0], ValueError, "is not an action of the action space"),
        ("LunarLanderContinuous-v3", ["a", 0.0], TypeError, "must be an action of the Box"),
    ):
        with pytest.raises(error, match=match):
            UDRL("MlpPolicy", env_id, action_holds=ActionHolds(0.5, action=action))
    with pytest.raises(ValueError, match=r"leg_on_ground reads LunarLander's observations of shape \(n_envs, 8\)"):
        UDRL("MlpPolicy", "CartPole-v1", action_holds=ground_holds())


def test_zeta_hold_lengths_are_ez_greedys():
    """zeta_mu: hold lengths n ~ zeta(mu), P(n) = n^-mu / zeta(mu), capped at steps (Dabney et al. 2021)."""
    holds, rng = ActionHolds(1.0, steps=40, zeta_mu=2.0), np.random.default_rng(0)
    next_id = iter(range(1, 10**6))
    taken = [
        int(holds(np.zeros(1, dtype=np.int64), lambda: None, 1.0, rng, lambda n: np.array([next(next_id)]))[0])
        for _ in range(200_000)
    ]
    lengths = np.bincount(np.unique(taken, return_counts=True)[1][:-1])  # the last hold may be unfinished
    share = lengths / lengths.sum()
    assert abs(share[1] - 6 / np.pi**2) < 0.01 and abs(share[2] - 6 / np.pi**2 / 4) < 0.01
    assert len(share) == 41 and share[40] > 0.01  # the tail beyond 40 is cut at 40
    fixed = ActionHolds(1.0, steps=3)
    taken = [
        int(fixed(np.zeros(1, dtype=np.int64), lambda: None, 1.0, rng, lambda n: np.array([next(next_id)]))[0])
        for _ in range(30)
    ]
    assert set(np.unique(taken, return_counts=True)[1]) == {3}


def test_holds_decay_over_their_fraction():
    """fraction=0.5: holds start, ever more rarely, in the first half of the budget and never after it."""
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 23})
    model = UDRL("MlpPolicy", env, seed=0, action_holds=ActionHolds(1.0, steps=5, fraction=0.5), **TINY)
    starts: list[int] = []
    random_actions = model.policy.random_actions

    def record(n: int) -> np.ndarray:
        if model.replay_buffer is not None and model.replay_buffer.n_episodes > 0:  # after the warm-up
            starts.extend([model.num_timesteps] * n)
        return random_actions(n)

    model.policy.random_actions = record  # type: ignore[method-assign]
    model.learn(4000)
    first, second = sum(t < 1000 for t in starts), sum(1000 <= t < 2000 for t in starts)
    assert first > second > 0
    assert max(starts) < 2000 + 2 * 23  # the probability is updated after each iteration (2 episodes of 23 steps)


def _record_starts(model, record):
    """Wrap ``model.action_holds`` so that ``record(ground, free, out, started)`` sees each step's holds."""
    holds = model.action_holds
    call = holds.__call__

    class Recording(type(holds)):
        def __call__(self, actions, observations, *args):
            steps_left = self._steps_left
            free = np.ones(len(actions), dtype=bool) if steps_left is None else steps_left == 0
            ground = leg_on_ground(observations())
            out = call(actions, observations, *args)
            record(ground, free, out, self._steps_left == holds.steps - 1)  # a hold just started: one step used
            return out

    holds.__class__ = Recording


def test_ground_holds_start_on_the_ground_only():
    """ground_holds(prob=1): every hold starts at a step where a leg touches the ground, and every such step not already
    holding starts one."""
    model = UDRL("MlpPolicy", make_vec_env("LunarLander-v3", n_envs=4, seed=0), seed=0, **TINY)
    model.action_holds = ground_holds(prob=1.0, steps=3, fraction=None)
    starts: list[tuple[np.ndarray, np.ndarray]] = []
    _record_starts(model, lambda ground, free, out, started: starts.append((ground & free, started)))
    model.learn(3000)
    may_start, started = (np.concatenate(column) for column in zip(*starts, strict=True))
    assert started.sum() > 10 and np.array_equal(started, may_start)


def test_otherwise_prob_holds_random_actions_in_the_air(tmp_path):
    """ground_holds with otherwise_prob=1: holds of the no-op start on the ground, of a random action (all four drawn)
    in the air; otherwise_fraction=0.5 ends those in the air at half the budget; saved."""
    model = UDRL("MlpPolicy", make_vec_env("LunarLander-v3", n_envs=4, seed=0), seed=0, **TINY)
    model.action_holds = ground_holds(prob=1.0, steps=3, fraction=None, otherwise_prob=1.0, otherwise_fraction=0.5)
    ground_starts, air_starts = [], []

    def record(ground, free, out, started):
        assert not (started & ~free).any()
        assert np.array_equal(started & ground, free & ground)  # prob=1 on the ground: every free env starts one
        ground_starts.extend(out[started & ground].tolist())
        air_starts.extend((model._current_progress_remaining, a) for a in out[started & ~ground])

    _record_starts(model, record)
    model.learn(6000)
    assert len(ground_starts) > 10 and set(ground_starts) == {0}
    assert len(air_starts) > 100 and {a for _, a in air_starts} == {0, 1, 2, 3}
    assert min(progress for progress, _ in air_starts) > 0.5  # the decay reaches 0 at half the budget
    model.save(tmp_path / "model.zip")
    loaded = UDRL.load(tmp_path / "model.zip").action_holds
    assert (loaded.otherwise_prob, loaded.otherwise_fraction, loaded.condition) == (1.0, 0.5, leg_on_ground)


def test_mirror_is_checked_against_the_spaces():
    """A mirror whose shapes do not match the spaces fails at construction, naming the mismatch."""
    with pytest.raises(ValueError, match=r"The mirror maps Box observations of shape \(8,\), got Box"):
        UDRL("MlpPolicy", "CartPole-v1", mirror=lunar_lander_mirror())
    with pytest.raises(ValueError, match=r"The mirror maps Discrete\(4\) actions, got Box"):
        RCPR("MlpPolicy", "LunarLanderContinuous-v3", mirror=lunar_lander_mirror())
    with pytest.raises(ValueError, match=r"The mirror maps Box actions of shape \(2,\), got Discrete\(4\)"):
        RCPA("MlpPolicy", "LunarLander-v3", mirror=lunar_lander_mirror(continuous=True))
    with pytest.raises(ValueError, match="action_index must be a permutation"):
        UDRL("MlpPolicy", "CartPole-v1", mirror=Mirror([0, 1, 2, 3], [1, 1, 1, 1], action_index=[0, 0]))
    with pytest.raises(ValueError, match="either Discrete actions"):
        Mirror([0], [1])
    UDRL("MlpPolicy", "LunarLanderContinuous-v3", mirror=lunar_lander_mirror(continuous=True))


def test_yaml_names_objects_by_dotted_path():
    """The rl-zoo3 glue makes the objects a YAML entry names, with or without keyword arguments."""
    resolved = resolve_objects(
        dict(
            mirror="sb3_udrl.envs.lunar_lander.lunar_lander_mirror",
            action_holds={"sb3_udrl.envs.lunar_lander.ground_holds": {"otherwise_prob": 0.008}},
            gamma=0.99,
        )
    )
    assert isinstance(resolved["mirror"], Mirror) and resolved["mirror"].action_index.tolist() == [0, 3, 2, 1]
    assert resolved["action_holds"].otherwise_prob == 0.008 and resolved["action_holds"].condition is leg_on_ground
    assert resolved["gamma"] == 0.99
    assert resolve_objects(dict(mirror=None)) == dict(mirror=None)
    for name in ("ez_greedy", "ez_greedy_decay"):  # the algorithm's own
        assert resolve_objects(dict(action_holds=name)) == dict(action_holds=name)
    with pytest.raises(ValueError, match="action_holds must be a dotted path"):
        resolve_objects(dict(action_holds={"a.b": {}, "c.d": {}}))


@pytest.mark.parametrize("algorithm", [UDRL, RCPR, RCPA])
def test_entropy_bonus_keeps_the_policy_spread(algorithm):
    """ent_coef adds the policy's entropy to the loss: on the same seed, the policy trained with it is more spread over
    the replay's observations than with the papers' loss, ``train/entropy`` is logged, and a negative value is refused
    by name."""
    entropies = {}
    for ent_coef in (0.0, 5.0):
        env = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardFeedback)
        kwargs = {**SMALL[algorithm], "n_updates_per_iter": 50}
        model = algorithm("MlpPolicy", env, seed=0, ent_coef=ent_coef, **kwargs).learn(1500 if algorithm is UDRL else 4000)
        # The policy at the replay's steps and the commands they are trained with
        batch = model.replay_buffer.sample(512, np.random.default_rng(0))
        command = th.as_tensor(model.policy.condition.relabel(batch, model._prepare_training(32)))
        observations = th.as_tensor(batch.observations)
        with th.no_grad():
            entropies[ent_coef] = model.policy.distribution(observations, command).entropy().mean().item()
        model.train(gradient_steps=1, batch_size=32)  # its logs, before the next dump clears them
        assert ("train/entropy" in model.logger.name_to_value) == (ent_coef > 0)
    assert entropies[5.0] > entropies[0.0] + 0.01, entropies  # at most ln 2 = 0.693: CartPole's two actions
    with pytest.raises(ValueError, match="ent_coef"):
        algorithm("MlpPolicy", "CartPole-v1", ent_coef=-0.1)
