"""
A long run's evaluations summarised per stretch of env steps: for each window ``(end - width, end]``, the mean of the
evaluation means in it, the share of evaluation episodes with a negative return, the worst episode and its length, and
the longest episode below -100, in each evaluation mode the sweep runner recorded (its ``benchmark.json``: greedy and
sampled). On LunarLander a crash ends an episode within a few hundred steps; a long episode far below -100 is a lander
that flies away.

Example (the 10M-step runs)::

    python benchmarks/eval_windows.py benchmarks/logs/udrl_10M/udrl/LunarLander-v3_* --ends 3e6 5e6 7.5e6 10e6 \
        -o benchmarks/results/probes/udrl_10M_windows.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from sb3_udrl.benchmark import MARKER


def windows(run_folder: Path, ends: list[float], width: float) -> dict[str, Any]:
    """Per evaluation mode: the last evaluation and, per window end, the windows' statistics."""
    out: dict[str, Any] = {}
    for name, mode in json.loads((run_folder / MARKER).read_text())["eval_modes"].items():
        data = np.load(run_folder / name)
        steps, results, lengths = data["timesteps"], data["results"], data["ep_lengths"]
        rows = []
        for end in ends:
            inside = (steps > end - width) & (steps <= end)
            if not inside.any():
                continue
            episodes, episode_lengths = results[inside], lengths[inside]
            below = episode_lengths[episodes < -100]
            rows.append(
                dict(
                    end=int(end),
                    evaluations=int(inside.sum()),
                    mean=float(episodes.mean(axis=1).mean()),
                    negative_share=float((episodes < 0).mean()),
                    worst_episode=float(episodes.min()),
                    worst_episode_steps=int(episode_lengths.flat[episodes.argmin()]),
                    below_minus_100=int(below.size),
                    longest_below_minus_100=int(below.max()) if below.size else None,
                )
            )
        out[mode] = dict(last_step=int(steps[-1]), last_mean=float(results[-1].mean()), windows=rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="sweep run folders")
    parser.add_argument("--ends", nargs="+", type=float, required=True, help="env steps at which windows end")
    parser.add_argument("--width", type=float, default=5e5, help="env steps per window")
    parser.add_argument("-o", "--output", type=Path, help="JSON file to write")
    args = parser.parse_args()

    summary = {str(run): windows(run, args.ends, args.width) for run in args.runs}
    for run, modes in summary.items():
        print(run)
        for mode, stats in modes.items():
            cells = [f"{w['end'] / 1e6:g}M: {w['mean']:.0f} ({w['negative_share']:.0%} < 0)" for w in stats["windows"]]
            print(f"  {mode:8s}", " | ".join(cells), f"| last {stats['last_mean']:.0f} at {stats['last_step']}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(dict(width=args.width, runs=summary), indent=2) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
