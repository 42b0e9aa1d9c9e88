"""The diagnostic probes under benchmarks/ measure what their docs say."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.air_action_probe import ACTIONS, action_shares, plain_crashes
from benchmarks.discovery_probe import correlations, discovery
from benchmarks.noise_probe import run_start, summarize
from sb3_udrl import UDRL
from sb3_udrl.benchmark import MARKER


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


def _fake_run(folder: Path, returns: list[float], length: int, eval_means: dict[str, float]) -> None:
    """A sweep run folder: one Monitor file of equal-length episodes and one evaluation per mode at 3M steps."""
    folder.mkdir(parents=True)
    rows = "".join(f"{r},{length},{i}\n" for i, r in enumerate(returns))
    (folder / "0.monitor.csv").write_text('#{"t_start": 0, "env_id": "LunarLander-v3"}\nr,l,t\n' + rows)
    modes = {}
    for mode, mean in eval_means.items():
        name = "evaluations.npz" if mode == "greedy" else f"{mode}/evaluations.npz"
        (folder / name).parent.mkdir(exist_ok=True)
        np.savez(folder / name, timesteps=np.array([3_000_000]), results=np.full((1, 4), mean), ep_lengths=np.ones((1, 4)))
        modes[name] = mode
    (folder / MARKER).write_text(json.dumps(dict(eval_modes=modes)))


def test_discovery_probe_shares_and_rank_correlation(tmp_path: Path) -> None:
    # 1000-step episodes: 500 in the first 0.5M steps, 500 in 0.5-1M, then 2000 more up to 3M
    early_lander = [250.0] * 100 + [-100.0] * 400 + [250.0] * 250 + [-100.0] * 250 + [0.0] * 2000
    late_lander = [-100.0] * 500 + [250.0] * 50 + [-100.0] * 450 + [0.0] * 2000
    _fake_run(tmp_path / "early", early_lander, 1000, dict(greedy=230.0, sampled=240.0))
    _fake_run(tmp_path / "late", late_lander, 1000, dict(greedy=20.0, sampled=10.0))
    _fake_run(tmp_path / "short", [0.0] * 100, 1000, dict(greedy=0.0))  # 0.1M steps: skipped
    early = discovery(tmp_path / "early")
    assert early is not None and discovery(tmp_path / "short") is None
    assert early["landing_share_0_to_500k"] == pytest.approx(0.2)
    assert early["landing_share_500k_to_1M"] == pytest.approx(0.5)
    assert early["time_limit_share_500k_to_1500k"] == 1.0  # every episode has the longest length seen
    assert early["eval_mean_2500k_to_3M"] == dict(greedy=230.0, sampled=240.0)
    late = discovery(tmp_path / "late")
    summary = {"early": early, "late": late, "middle": {**late, "landing_share_0_to_500k": 0.1}}
    summary["middle"]["eval_mean_2500k_to_3M"] = dict(greedy=100.0, sampled=120.0)
    ranks = correlations(summary)
    assert ranks["landing_share_0_to_500k"]["greedy"] == dict(runs=3, spearman=pytest.approx(1.0))


def test_air_action_probe_counts_every_step_once() -> None:
    model = UDRL("MlpPolicy", "LunarLander-v3", n_warm_up_episodes=1, seed=0)
    row = action_shares(model, episodes=2, deterministic=False, air_height=0.2)
    lengths = [row["air"]["steps"], row["ground"]["steps"]]
    assert len(row["returns"]) == 2 and min(lengths) > 0  # an untrained lander starts in the air and falls
    # an untrained lander's episodes end by a crash (or out of bounds), not by the time limit
    assert [end["ended"] for end in row["ends"]] == ["crashed"] * 2 and row["crashes"] == 2
    assert row["crash_abs_x_median"] == pytest.approx(np.median([abs(end["x"]) for end in row["ends"]]))
    for where in ("air", "ground"):
        assert sum(row[where][name] for name in ACTIONS) == pytest.approx(1.0)
    # each end carries its episode's return and length; the steps add up to the steps counted in and out of the air
    assert [end["return"] for end in row["ends"]] == row["returns"] and sum(lengths) == sum(e["steps"] for e in row["ends"])
    assert row["below_minus_100"] == [end for end in row["ends"] if end["return"] < -100]
    again = action_shares(model, episodes=2, deterministic=True, air_height=0.2)
    assert again == action_shares(model, episodes=2, deterministic=True, air_height=0.2)  # fixed reset seeds


def test_plain_crashes_hold_one_action_and_crash() -> None:
    reference = plain_crashes("LunarLander-v3", episodes=3)
    assert set(reference) == {"noop", "left_engine", "right_engine"}  # the main engine held flies away, not a crash
    for row in reference.values():
        assert row["min"] <= row["median"] <= row["max"] < 100 and 40 < row["median_steps"] < 200  # a fall, not a landing
    # a side engine held turns the lander over: its crash scores far below the no-op's fall
    assert reference["left_engine"]["median"] < reference["noop"]["median"] - 100
