"""The greedy LunarLander episodes of a trained RCPA agent that end below 100: what it did, and how high it flew.

    python benchmarks/diagnostics/rcpa_fly_off.py MODEL_ZIP_OR_RUN_FOLDER [...] [--env ENV] > OUTPUT.txt

For each model (a ``.zip``, or a run folder of the benchmark runner holding ``ENV.zip``), 40 greedy episodes (env seeds
1000-1039) asking for the evaluation target, on ``ENV`` (default LunarLander-v3; or LunarLanderSparse-v3). For each
episode below 100: its return and length, how often it took each action (no-op, left, main, right engine), its highest
point, where it ended (the lander starts at a height of 1.4; ``|x| >= 1`` is off the screen's side) and how: a crash
(the body touched the ground, or off the side: -100), at rest (+100), or cut by the time limit. This script reads
LunarLander's observation layout and internals; the algorithms do not.
"""

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

import sb3_udrl.envs  # noqa: F401  (registers LunarLanderSparse-v3)
from sb3_udrl import RCPA


def report(path: Path, env_id: str = "LunarLander-v3", n_episodes: int = 40) -> str:
    model = RCPA.load(path / f"{env_id}.zip" if path.is_dir() else path, device="cpu")
    policy, env = model.policy, gym.make(env_id)
    command = policy.eval_command.expand(1, -1)
    lines, n_high = [], 0
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=1000 + episode)
        done, total, actions, heights = False, 0.0, [], []
        while not done:
            observation = th.as_tensor(model._normalize_obs(obs[None]), dtype=th.float32)
            with th.no_grad():
                action = int(policy.distribution(observation, command).distribution.probs[0].argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            actions.append(action)
            heights.append(float(obs[1]))
            done = terminated or truncated
        if total < 100:
            lander = env.unwrapped
            ending = "crash" if lander.game_over or abs(obs[0]) >= 1.0 else "cut" if truncated else "at rest"
            n_high += max(heights) > 2.0
            lines.append(
                f"  episode {episode}: return {total:.0f}, {len(actions)} steps, actions (no-op, left, main, right) "
                f"{np.bincount(actions, minlength=4).tolist()}, highest {max(heights):.2f}, ended at x {obs[0]:.2f} "
                f"y {obs[1]:.2f}, {ending}"
            )
    return "\n".join([f"{path}: {len(lines)} of {n_episodes} below 100, {n_high} of them above a height of 2", *lines])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="model .zip files or run folders")
    parser.add_argument("--env", default="LunarLander-v3", help="LunarLander-v3 or LunarLanderSparse-v3")
    args = parser.parse_args()
    for model_path in args.models:
        print(report(model_path, args.env), flush=True)
