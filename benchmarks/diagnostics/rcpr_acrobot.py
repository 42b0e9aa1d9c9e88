"""Why RCPR (the paper's return-to-go weights) does not learn Acrobot-v1: the replay, the weights and the policy.

    python benchmarks/diagnostics/rcpr_acrobot.py > benchmarks/results/rcpr_acrobot_diagnosis.txt

1. For 100 random-action warm-up episodes (seeds 0, 1, 10, 11): how many end by swinging up (terminated) and what share
   of the sample weight their steps get, weighted by the return-to-go (the paper) or by the episode's return.
2. Seed 10 with the Acrobot settings and the paper's weights, every 10 iterations up to 120k steps: the policy's
   negative log-likelihood of the replay's actions and its entropy at the replay's (s, Z) (uniform: ln 3 = 1.10),
   and the share of its own last 20 episodes that swung up.
"""

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_udrl import RCPR

SETTINGS = dict(return_scale=0.01)  # hyperparams/rcpr.yml, Acrobot-v1 (class defaults otherwise)


def weight_shares(seed: int) -> str:
    model = RCPR("MlpPolicy", make_vec_env("Acrobot-v1", n_envs=4, seed=seed), seed=seed, n_warm_up_episodes=100,
                 n_updates_per_iter=1, **SETTINGS)  # fmt: skip
    model.learn(52_000)  # the warm-up, then one iteration of a single update
    buffer = model.replay_buffer
    rows, mask = buffer.padded_rows()
    swung_up = ~buffer.ep_truncated[: buffer.n_episodes]
    in_swing_up = np.zeros(buffer.capacity, dtype=bool)
    in_swing_up[rows[swung_up][mask[swung_up]]] = True
    line = (f"seed {seed}: {buffer.n_episodes} episodes, {swung_up.sum()} swung up "
            f"({in_swing_up.sum() / mask.sum():.1%} of the steps)")  # fmt: skip
    for weight_by in ("return_to_go", "episode_return"):
        model.weight_by = weight_by
        weights = model._row_weights(model._prepare_training(model.batch_size))
        line += f"; weighted by {weight_by}: {weights[in_swing_up].sum() / weights.sum():.1%} of the weight"
    return line


class PolicyTrace(BaseCallback):
    """Every 10 iterations: the policy's fit and entropy on 2,000 replay samples, and its own recent episodes."""

    def __init__(self) -> None:
        super().__init__()
        self.iterations = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.iterations += 1
        if self.iterations % 10:
            return
        model = self.model
        batch = model.replay_buffer.sample(2000, np.random.default_rng(0))
        obs = th.as_tensor(model._normalize_obs(batch.observations))
        command = th.as_tensor(model.policy.condition.relabel(batch, None))
        with th.no_grad():
            log_probs = th.stack([model.policy.log_prob(obs, command, th.full((2000,), a)) for a in range(3)], dim=1)
            nll = -model.policy.log_prob(obs, command, th.as_tensor(batch.actions)).mean().item()
        entropy = -(log_probs.exp() * log_probs).sum(dim=1).mean().item()
        episodes = list(model.ep_info_buffer)[-20:]
        swung_up = np.mean([episode["l"] < 500 for episode in episodes])
        print(f"{model.num_timesteps:7d} steps: NLL {nll:.3f}, entropy {entropy:.3f}, own episodes swung up {swung_up:.0%}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    th.set_num_threads(1)
    for seed in (0, 1, 10, 11):
        print(weight_shares(seed), flush=True)
    model = RCPR("MlpPolicy", make_vec_env("Acrobot-v1", n_envs=4, seed=10), seed=10, **SETTINGS)
    model.learn(120_000, callback=PolicyTrace())
