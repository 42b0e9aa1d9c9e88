"""Merge per-seed benchmark files ({algo}_{env}_{name}_s{seed}.json) into one summary per variant, with plots.

    python benchmarks/summarize.py --env LunarLander-v3 --names paper fix2 --at 1000000 3000000
    python benchmarks/summarize.py --algo rcpa --env LunarLander-v3 --names final --at 1000000 1500000

Writes benchmarks/results/{algo}_{env}_{name}.json and .png (all seeds) and prints a markdown table: median, min and
max over seeds of the evaluation return at each step count of --at (the last evaluation at or before it).
Exploratory variants (names starting with "probe") are read from benchmarks/results/probes/ and benchmarks/results/
(where udrl_benchmark.py writes new runs) and merged into benchmarks/results/probes/ (index: probes/INDEX.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PROBES = RESULTS / "probes"  # exploratory runs, names starting with "probe"


def is_probe(name: str) -> bool:
    return name.startswith("probe")


def output_folder(name: str) -> Path:
    """Where the merged files of variant ``name`` go: probes/ for a probe, else benchmarks/results/."""
    return PROBES if is_probe(name) else RESULTS


def load_runs(env: str, name: str, algo: str = "udrl") -> list[dict[str, Any]]:
    """
    Runs of the per-seed files ``{algo}_{env}[_{name}]_s{seed}.json`` (``name="default"``: no infix), each evaluation
    record given ``return_greedy`` and ``return_sampled`` (the benchmark's main mode is ``mean_return``, the other
    one ``mean_return_other_mode``; ``--stochastic-eval`` in its command line makes sampling the main mode). A probe's
    files are looked for in probes/ and in benchmarks/results/ (probes/ wins where both hold a file of the same name).
    """
    runs = []
    infix = "" if name == "default" else f"_{name}"
    paths: dict[str, Path] = {}
    for folder in [RESULTS, PROBES] if is_probe(name) else [RESULTS]:
        paths.update({path.name: path for path in folder.glob(f"{algo}_{env}{infix}_s[0-9]*.json")})
    for _, path in sorted(paths.items()):
        data = json.loads(path.read_text())
        sampled_main = "--stochastic-eval" in data["command"]
        for run in data["runs"]:
            for record in run["curve"]:
                main, other = record["mean_return"], record.get("mean_return_other_mode", float("nan"))
                record["return_sampled"], record["return_greedy"] = (main, other) if sampled_main else (other, main)
                # last component of the evaluation command: UDRL's desired horizon, RCP's target
                record.setdefault("desired_horizon", record.get("eval_command", [float("nan")])[-1])
        runs.extend(data["runs"])
    return sorted(runs, key=lambda run: run["seed"])


def value_at(run: dict[str, Any], steps: int, key: str = "mean_return") -> float:
    """The last evaluation at or just after ``steps`` (NaN if the run has not got that far)."""
    values = [record[key] for record in run["curve"] if steps - 50_000 <= record["timesteps"] <= steps + 50_000]
    return values[-1] if values else float("nan")


def window_mean(run: dict[str, Any], steps: int, key: str, window: int) -> float:
    """Mean of the evaluations in ``(steps - window, steps + 50k]`` (NaN if the run has not got that far): less noisy
    than one evaluation of 20 episodes."""
    if run["curve"] and run["curve"][-1]["timesteps"] < steps - 50_000:
        return float("nan")
    values = [record[key] for record in run["curve"] if steps - window < record["timesteps"] <= steps + 50_000]
    return float(np.mean(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="udrl")
    parser.add_argument("--env", required=True)
    parser.add_argument("--names", nargs="+", required=True)
    parser.add_argument("--at", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--window", type=int, default=250_000, help="steps averaged by the window_mean columns")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for name in args.names:
        runs = load_runs(args.env, name, args.algo)
        if not runs:
            continue
        summary: dict[str, Any] = dict(env=args.env, algo=args.algo.upper(), variant=name, seeds=[r["seed"] for r in runs])
        for steps in args.at:
            for key in ("return_sampled", "return_greedy", "desired_horizon", "window_sampled", "train_return"):
                if key == "window_sampled":
                    values = [window_mean(run, steps, "return_sampled", args.window) for run in runs]
                else:
                    values = [value_at(run, steps, key) for run in runs]
                reached = [v for v in values if np.isfinite(v)]
                summary[f"{key}_at_{steps}"] = dict(
                    per_seed=values,
                    n_seeds=len(reached),
                    median=float(np.median(reached)) if reached else float("nan"),
                    min=float(np.min(reached)) if reached else float("nan"),
                    max=float(np.max(reached)) if reached else float("nan"),
                )
        summary["train_seconds_per_seed"] = [run["train_seconds"] for run in runs]
        summary["timesteps_done_per_seed"] = [run.get("timesteps_done", run["n_timesteps"]) for run in runs]
        summary["runs"] = runs
        output = output_folder(name)
        output.mkdir(parents=True, exist_ok=True)
        (output / f"{args.algo}_{args.env}_{name}.json").write_text(json.dumps(summary, indent=1))

        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for run in runs:
            steps = [r["timesteps"] for r in run["curve"]]
            axes[0].plot(steps, [r["return_sampled"] for r in run["curve"]], label=f"seed {run['seed']}")
            # UDRL: its desired horizon (the hovering failure shows there); RCP: the greedy evaluation
            right = "desired_horizon" if args.algo == "udrl" else "return_greedy"
            axes[1].plot(steps, [r[right] for r in run["curve"]], label=f"seed {run['seed']}")
        axes[0].set_ylabel("evaluation return (sampled actions)")
        axes[1].set_ylabel("exploratory desired horizon" if args.algo == "udrl" else "evaluation return (greedy actions)")
        for ax in axes:
            ax.set_xlabel("environment steps")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(f"{args.algo.upper()} ({name}) on {args.env}")
        fig.tight_layout()
        fig.savefig(output / f"{args.algo}_{args.env}_{name}.png", dpi=90)
        plt.close(fig)

        for steps in args.at:
            sampled = summary[f"return_sampled_at_{steps}"]
            greedy = summary[f"return_greedy_at_{steps}"]
            horizon = summary[f"desired_horizon_at_{steps}"]
            window = summary[f"window_sampled_at_{steps}"]
            rows.append(
                f"| {name} | {steps / 1e6:g}M | {horizon['n_seeds']} | {sampled['median']:.0f} | "
                f"{sampled['min']:.0f} .. {sampled['max']:.0f} | {greedy['median']:.0f} | "
                f"{greedy['min']:.0f} .. {greedy['max']:.0f} | {window['median']:.0f} ({window['min']:.0f} .. "
                f"{window['max']:.0f}) | {horizon['median']:.0f} (max {horizon['max']:.0f}) |"
            )
    print(
        "| variant | steps | seeds | median return (sampled) | min .. max | median return (greedy) | min .. max "
        f"| median of the mean over the last {args.window // 1000}k steps (min .. max) | evaluation command (last) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
