"""How a trained RCPA agent's LunarLander-v3 policy at the start state answers its advantage target.

    python benchmarks/diagnostics/rcpa_start_state.py MODEL_ZIP_OR_RUN_FOLDER [...]

For each model (a ``.zip``, or a run folder of the benchmark runner holding ``LunarLander-v3.zip``), the first
observations of 40 episodes (env seeds 1000-1039): the mean action probabilities (no-op, left, main, right engine)
for advantage targets -1 to 3, on how many of the 40 the greedy action is the main engine, and ``V`` of the start.
"""

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

from sb3_udrl import RCPA


def report(path: Path, n_starts: int = 40) -> str:
    model = RCPA.load(path / "LunarLander-v3.zip" if path.is_dir() else path, device="cpu")
    policy, env = model.policy, gym.make("LunarLander-v3")
    starts = np.array([env.reset(seed=1000 + i)[0] for i in range(n_starts)])
    observations = th.as_tensor(model._normalize_obs(starts), dtype=th.float32)
    lines = [f"{path}:"]
    with th.no_grad():
        for target in (-1.0, 0.0, 1.0, 2.0, 3.0):
            probs = policy.distribution(observations, th.full((n_starts, 1), target)).distribution.probs.numpy()
            mean = ", ".join(f"{p:.2f}" for p in probs.mean(0))
            lines.append(
                f"  target {target:+.0f}: mean probabilities ({mean}), greedy main engine on "
                f"{int((probs.argmax(1) == 2).sum())} of {n_starts}"
            )
        value = (policy.scaled_value(observations) / (1 - model.gamma)).mean().item()
    lines.append(f"  V of the start: {value:.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(report(Path(argument)), flush=True)
