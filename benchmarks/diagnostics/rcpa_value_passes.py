"""Seconds per iteration of RCP-A's value passes and updates on a TakeCover-sized replay (docs/design/takecover.md).

    python benchmarks/diagnostics/rcpa_value_passes.py

RCPA with `CnnPolicy` on 64x64 images of 4 stacked frames (the replay's `frame_stack=4`), the YAML entry's 20 value
updates of 256: the replay holds 50,000 steps of random frames in episodes of 100 steps; each iteration adds 2,048 new
steps (`n_steps_per_iter`) and runs `_prepare_training`: `V` over the replay, the value updates, `V` again. Prints,
as JSON, the mean seconds per iteration (one torch thread) where the pass before the updates takes the values of the
previous iteration's pass after them (the default) and where every pass computes `V` over the whole replay, and the
largest difference between the advantages of the two (float32 rounding of a different batching).
"""

import json
import time

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.logger import Logger

from sb3_udrl import RCPA

STACK, SIZE, LENGTH, ITERATIONS = 4, 64, 100, 4


def add_episodes(buffer, rng, steps: int) -> None:
    for _ in range(steps // LENGTH):
        screens = rng.integers(0, 256, (LENGTH + STACK - 1, 1, SIZE, SIZE), np.uint8)
        frames = np.concatenate([screens[k : k + LENGTH] for k in range(STACK)], axis=1)
        buffer.add_episode(frames, rng.integers(0, 3, LENGTH), rng.normal(size=LENGTH).astype(np.float32))


def seconds_per_iteration(reuse: bool) -> tuple[float, np.ndarray]:
    th.manual_seed(0)
    env = make_vec_env(
        FakeImageEnv, n_envs=1, env_kwargs=dict(screen_height=SIZE, screen_width=SIZE, n_channels=STACK, discrete=True)
    )
    model = RCPA("CnnPolicy", env, seed=0, n_value_updates_per_iter=20, replay_buffer_kwargs=dict(frame_stack=STACK))
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.replay_buffer = buffer = model._make_replay_buffer()
    rng = np.random.default_rng(0)
    add_episodes(buffer, rng, 50_000)
    model._prepare_training(256)  # the first iteration has no values to reuse
    times = []
    for _ in range(ITERATIONS):
        add_episodes(buffer, rng, 2_048)
        if not reuse:
            model._value_cache = None
        start = time.perf_counter()
        advantages = model._prepare_training(256)
        times.append(time.perf_counter() - start)
    return float(np.mean(times)), advantages


if __name__ == "__main__":
    th.set_num_threads(1)
    reused, with_reuse = seconds_per_iteration(True)
    whole, without = seconds_per_iteration(False)
    print(
        json.dumps(
            dict(
                seconds_reusing_values=round(reused, 2),
                seconds_two_whole_passes=round(whole, 2),
                largest_advantage_difference=float(np.abs(with_reuse - without).max()),
            )
        )
    )
