"""What a trained RCPA agent does with LunarLander-v3's lander at rest on its legs: the hovering failure.

    python benchmarks/diagnostics/rcpa_at_rest.py MODEL_ZIP_OR_RUN_FOLDER [...] > OUTPUT.txt

For each model (a ``.zip``, or a run folder of the benchmark runner holding ``LunarLander-v3.zip``), 10 greedy episodes
(env seeds 100-109) asking for the evaluation target: how they end, and at the steps where the lander is at rest (both
legs on the ground, speed below 0.05 in both axes) the policy's mean action probabilities (no-op, left, main, right
engine), which action it picks, and ``V(s)``. A lander lands (+100) only once it falls asleep, about 25 steps without
any engine firing.
This script reads LunarLander's observation layout; the algorithms do not.
"""

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

from sb3_udrl import RCPA


def at_rest(obs: np.ndarray) -> bool:
    return bool(obs[6] > 0.5 and obs[7] > 0.5 and abs(obs[2]) < 0.05 and abs(obs[3]) < 0.05)


def report(folder: Path, n_episodes: int = 10) -> str:
    model = RCPA.load(folder / "LunarLander-v3.zip" if folder.is_dir() else folder, device="cpu")
    policy, env = model.policy, gym.make("LunarLander-v3")
    command = policy.eval_command.expand(1, -1)
    probs, values, endings = [], [], []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=100 + episode)
        done, total = False, 0.0
        while not done:
            observation = th.as_tensor(model._normalize_obs(obs[None]), dtype=th.float32)
            with th.no_grad():
                p = policy.distribution(observation, command).distribution.probs[0].numpy()
                if at_rest(obs):
                    probs.append(p)
                    values.append(policy.scaled_value(observation).item() / (1 - model.gamma))
            obs, reward, terminated, truncated, _ = env.step(int(p.argmax()))
            total += float(reward)
            done = terminated or truncated
        endings.append("cut" if truncated else "ended")
        endings[-1] += f" {total:.0f}"
    lines = [f"{folder}: {', '.join(endings)}"]
    if probs:
        p = np.array(probs)
        picked = np.bincount(p.argmax(1), minlength=4) / len(p)
        lines.append(f"  {len(p)} steps at rest; mean probabilities (no-op, left, main, right) {np.round(p.mean(0), 3)}")
        lines.append(f"  picked {np.round(picked, 3)}; V(s) mean {np.mean(values):.1f}, std {np.std(values):.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    for run_folder in sys.argv[1:]:
        print(report(Path(run_folder)), flush=True)
