import pytest
import torch as th


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
