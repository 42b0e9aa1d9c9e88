"""The diagnostic probes under benchmarks/ measure what their docs say."""

import numpy as np
import pytest

from benchmarks.noise_probe import run_start, summarize
from sb3_udrl import UDRL


def test_noise_probe_repeats_share_the_start_and_differ_by_the_noise_alone() -> None:
    model = UDRL("MlpPolicy", "LunarLander-v3", n_warm_up_episodes=1, seed=0)
    first = run_start(model, "LunarLander-v3", start_seed=3, repeats=4, deterministic=True)
    again = run_start(model, "LunarLander-v3", start_seed=3, repeats=4, deterministic=True)
    # greedy actions from one start: the same noise stream gives the same episode, another stream another one
    assert [e["episode_return"] for e in first] == [e["episode_return"] for e in again]
    assert len({round(e["episode_return"], 6) for e in first}) > 1


def test_noise_probe_summary_splits_start_and_noise() -> None:
    def episodes(landed: list[list[bool]]) -> list[dict]:
        return [
            dict(start_seed=s, repeat=k, episode_return=100.0 if y else -100.0, landed=y)
            for s, row in enumerate(landed)
            for k, y in enumerate(row)
        ]

    decided_by_start = summarize(episodes([[True] * 4, [False] * 4]))
    assert decided_by_start["within_start_variance_share"] == 0.0
    assert (decided_by_start["starts_all_landed"], decided_by_start["starts_none_landed"]) == (1, 1)
    decided_by_noise = summarize(episodes([[True, False] * 2, [False, True] * 2]))
    assert decided_by_noise["within_start_variance_share"] == pytest.approx(1.0)
    assert decided_by_noise["starts_mixed"] == 2
    assert np.isclose(decided_by_noise["landed_share"], 0.5)
