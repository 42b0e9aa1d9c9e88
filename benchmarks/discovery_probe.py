"""
When did a LunarLander run first land, and how did it end? For each sweep run folder: from its training episodes (the
Monitor files), the share of episodes returning 200 or more (landings) over the first 0.5M steps and over 0.5-1M, the
share cut by the time limit over 0.5-1.5M, and the median length of the episodes returning 100 or more over 0.3-1M;
from its evaluations, the mean over 2.5-3M in each evaluation mode. Runs shorter than 3M steps are skipped. Over all
runs given, the rank correlation of each training figure with the evaluation means.

Example (every UDRL LunarLander-v3 run of the sweeps and probes)::

    python -m benchmarks.discovery_probe benchmarks/logs/udrl_10M/udrl/LunarLander-v3_* \
        benchmarks/logs/probes/*/udrl/LunarLander-v3_* -o benchmarks/results/probes/discovery_udrl_LunarLander-v3.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3.common.monitor import load_results

from benchmarks.eval_windows import windows
from sb3_udrl.benchmark import MARKER


def discovery(run_folder: Path) -> dict[str, Any] | None:
    """The run's training and evaluation figures (None: no Monitor files or fewer than 3M steps)."""
    if not (run_folder / MARKER).exists() or not any(run_folder.glob("*monitor.csv")):
        return None
    episodes = load_results(str(run_folder)).sort_values("t")
    steps = episodes["l"].cumsum().to_numpy()
    if steps[-1] < 2.9e6:  # episodes still running at the end are not in the Monitor files
        return None
    returns, lengths = episodes["r"].to_numpy(), episodes["l"].to_numpy()
    limit = lengths.max()

    def inside(start: float, end: float) -> np.ndarray:
        return (steps > start) & (steps <= end)

    early, later, middle = inside(0, 5e5), inside(5e5, 1e6), inside(5e5, 1.5e6)
    good = inside(3e5, 1e6) & (returns >= 100)
    evaluation = {
        mode: next((w["mean"] for w in stats["windows"] if w["end"] == 3_000_000), None)
        for mode, stats in windows(run_folder, [3e6], 5e5).items()
    }
    return dict(
        landing_share_0_to_500k=float((returns[early] >= 200).mean()),
        landing_share_500k_to_1M=float((returns[later] >= 200).mean()),
        time_limit_share_500k_to_1500k=float((lengths[middle] >= limit).mean()),
        median_length_returns_100_or_more_300k_to_1M=float(np.median(lengths[good])) if good.any() else None,
        eval_mean_2500k_to_3M=evaluation,
    )


def rank_correlation(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (the Pearson correlation of the ranks; ties get their mean rank)."""
    ranks = [pd.Series(values).rank().to_numpy() for values in (x, y)]
    return float(np.corrcoef(*ranks)[0, 1])


def correlations(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per training figure and evaluation mode: the rank correlation with the evaluation mean over 2.5-3M."""
    out: dict[str, dict[str, Any]] = {}
    for figure in ("landing_share_0_to_500k", "landing_share_500k_to_1M", "time_limit_share_500k_to_1500k"):
        for mode in ("greedy", "sampled"):
            pairs = [(row[figure], row["eval_mean_2500k_to_3M"].get(mode)) for row in summary.values()]
            pairs = [pair for pair in pairs if pair[1] is not None]
            if len(pairs) > 2:
                x, y = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
                out.setdefault(figure, {})[mode] = dict(runs=len(pairs), spearman=rank_correlation(x, y))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="sweep run folders")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args()

    summary = {str(run): row for run in args.runs if (row := discovery(run)) is not None}
    order = sorted(summary, key=lambda run: summary[run]["landing_share_0_to_500k"])
    for run in order:
        row = summary[run]
        length = row["median_length_returns_100_or_more_300k_to_1M"]
        cells = " ".join(f"{mode} {mean:.0f}" for mode, mean in row["eval_mean_2500k_to_3M"].items() if mean is not None)
        print(
            f"{run:70s} landings {row['landing_share_0_to_500k']:.3f} / {row['landing_share_500k_to_1M']:.3f}"
            f"  time limit {row['time_limit_share_500k_to_1500k']:.2f}"
            f"  length {'-' if length is None else f'{length:.0f}'}  | {cells}"
        )
    ranks = correlations(summary)
    for figure, modes in ranks.items():
        cells = ", ".join(f"{mode} {stats['spearman']:.2f}" for mode, stats in modes.items())
        print(f"rank correlation of {figure} with the evaluation mean over 2.5-3M ({len(summary)} runs): {cells}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(dict(runs=summary, order=order, rank_correlation=ranks), indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
