import pytest
import torch as th

from sb3_udrl import RCPA, RCPR, UDRL


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run on small nets: one thread is fastest and keeps results reproducible."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


# Tiny but complete UDRL configuration: every test trains through warm-up, updates and collection.
TINY = dict(
    n_warm_up_episodes=2,
    n_episodes_per_iter=2,
    n_updates_per_iter=5,
    batch_size=32,
    replay_size=20,
    last_few=5,
    policy_kwargs=dict(net_arch=[16, 16]),
)


# Small configuration that learns CartPole in ~10k steps (used where a test needs a trained agent).
CARTPOLE_LEARNS = dict(
    n_warm_up_episodes=10,
    n_episodes_per_iter=10,
    last_few=10,
    replay_size=100,
    batch_size=256,
    n_updates_per_iter=50,
    return_scale=0.01,
    horizon_scale=0.01,
)


# Tiny configurations of every algorithm, for the contract tests parametrised over MODEL_LIST (sb3-contrib's style)
TINY_RCP = dict(
    n_steps_per_iter=0,  # iterations of n_episodes_per_iter episodes, as UDRL's
    n_warm_up_episodes=2,
    n_episodes_per_iter=2,
    n_updates_per_iter=5,
    batch_size=32,
    buffer_size=2_000,
    policy_kwargs=dict(net_arch=[16, 16]),
)
MODEL_LIST = [UDRL, RCPR, RCPA]
TINY_KWARGS = {UDRL: TINY, RCPR: TINY_RCP, RCPA: dict(TINY_RCP, n_value_updates_per_iter=5)}
