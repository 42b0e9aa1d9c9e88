"""Peak memory of a UDRL TakeCover run whose replay holds 700 episodes of L steps (docs/design/takecover.md).

    python benchmarks/diagnostics/memory_probe.py 525 1    # L = 525 steps, overlap_training on (0: off), one screen
    python benchmarks/diagnostics/memory_probe.py 525 1 4  # the last 4 screens stacked, each stored once

UDRL's class defaults with `CnnPolicy` on 4 envs of the TakeCover screens (optionally the last K stacked, with the
replay's `frame_stack=K` as in the YAML entry): the replay (500 best + 200 recent episodes) is filled with 700 episodes
of L random frames, as a run whose agent survives L steps would hold it, then 2,000 steps
of training follow. With overlap_training the replay is shared before it is filled, as `learn()` does with the empty
replay of a fresh run. Prints, as JSON, the peak over the run of the summed PSS (shared pages split between the
processes that map them) and RSS (shared pages counted in each) of all its processes, sampled every 0.2 s, and
`ru_maxrss` of the main process and of its largest child.
"""

import json
import os
import resource
import sys
import threading
import time

import numpy as np
import vizdoom.gymnasium_wrapper  # noqa: F401  (registers VizdoomTakeCover-v1)
from stable_baselines3.common.env_util import make_vec_env

from sb3_udrl import UDRL, RewardFeedback
from sb3_udrl.envs.vizdoom import TakeCoverObservation

GiB = 2**30


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                for child in children.read().split():
                    pids += process_tree(int(child))
    except OSError:  # a process that ended meanwhile
        pass
    return pids


def memory(pid: int) -> dict[str, int]:
    """Rss and Pss of one process in bytes (``/proc/PID/smaps_rollup``)."""
    found = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                key, *rest = line.split()
                if key in ("Rss:", "Pss:"):
                    found[key[:-1]] = int(rest[0]) * 1024
    except OSError:
        pass
    return found


def sample_peaks(peak: dict[str, int]) -> None:
    while True:
        pids = process_tree(os.getpid())
        totals = {"Pss": 0, "Rss": 0}
        for pid in pids:
            for key, value in memory(pid).items():
                totals[key] += value
        for key, value in totals.items():
            peak[key] = max(peak[key], value)
        peak["processes"] = max(peak["processes"], len(pids))
        time.sleep(0.2)


if __name__ == "__main__":
    length, overlap = int(sys.argv[1]), sys.argv[2] == "1"
    stack = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    peak = {"Pss": 0, "Rss": 0, "processes": 0}
    threading.Thread(target=sample_peaks, args=(peak,), daemon=True).start()

    def screens(env):
        return RewardFeedback(TakeCoverObservation(env, size=64, frame_skip=4, frame_stack=stack))

    env = make_vec_env("VizdoomTakeCover-v1", n_envs=4, seed=0, wrapper_class=screens, env_kwargs=dict(render_mode=None))
    model = UDRL(
        "CnnPolicy",
        env,
        seed=0,
        overlap_training=overlap,
        n_updates_per_iter=5,
        n_warm_up_episodes=4,
        replay_buffer_kwargs=dict(frame_stack=stack),
    )
    buffer = model._make_replay_buffer()
    if overlap:
        buffer.share()
    rng = np.random.default_rng(0)
    screens = rng.integers(0, 256, (length + stack - 1, *buffer.frame_shape), np.uint8)
    frames = np.concatenate([screens[k : k + length] for k in range(stack)], axis=1)  # (length, stack, 64, 64)
    for i in range(700):
        buffer.add_episode(frames, rng.integers(0, 3, length), np.full(length, 4.0) + i * 1e-3)
    model.replay_buffer = buffer
    start = time.time()
    model.learn(2000)
    time.sleep(0.5)
    env.close()  # ViZDoom's game processes outlive a script that does not close them
    result = dict(
        episode_length=length,
        overlap_training=overlap,
        frame_stack=stack,
        replay_steps=buffer.n_steps,
        replay_allocated_gib=round(model.replay_buffer.nbytes / GiB, 2),
        peak_pss_all_processes_gib=round(peak["Pss"] / GiB, 2),
        peak_rss_all_processes_gib=round(peak["Rss"] / GiB, 2),
        processes=peak["processes"],
        ru_maxrss_main_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        ru_maxrss_largest_child_gib=round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2),
        seconds=round(time.time() - start),
    )
    print(json.dumps(result))
