"""The report of a sweep: per env and algorithm, medians and IQMs over seeds with rliable's bootstrap intervals, a
Markdown table, a CSV and learning curves (see :mod:`sb3_udrl.benchmark`)."""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from sb3_udrl.benchmark.sweep import MARKER
from sb3_udrl.benchmark.versions import env_knowledge, hyperparams_overrides, is_current

#: Return that counts as "solved" in the report, per env
THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "LunarLander-v3": 200.0,
    "LunarLanderSparse-v3": 200.0,
    "LunarLanderContinuous-v3": 200.0,
    "Pendulum-v1": -200.0,
}


def _rliable() -> tuple[Any, Any]:
    """rliable's ``library`` and ``metrics`` modules (installed with ``rl_zoo3[plots]``, sb3_udrl's ``zoo`` extra)."""
    try:
        from rliable import library, metrics
    except ImportError as error:
        raise ImportError("The benchmark report needs rliable: pip install 'sb3_udrl[zoo]' (rl_zoo3[plots])") from error
    return library, metrics


# ----------------------------------------------------------------------------------------------------------------------
# Report
class RunResult(NamedTuple):
    """The evaluations of one finished run."""

    algo: str  # with the env-specific helpers and the overrides it used, e.g. "udrl + ground_holds", "rcpa (gamma:0.999)"
    env: str
    seed: int
    n_timesteps: int
    wall_seconds: float
    timesteps: np.ndarray  # (n_evaluations,)
    greedy: np.ndarray  # mean return of each evaluation
    sampled: np.ndarray
    eval_wall_seconds: np.ndarray
    commit: str | None = None
    current: bool | None = None  # made with today's code of the algorithm (``is_current``)


def _run_config(folder: Path, env: str) -> dict[str, Any]:
    """A run's hyperparameters as rl-zoo3 saved them (``{env}/config.yml``), or {} without that file."""
    import yaml

    path = folder / env / "config.yml"
    if not path.is_file():
        return {}
    with open(path) as file:
        return dict(yaml.load(file, Loader=yaml.UnsafeLoader))  # rl-zoo3 writes an OrderedDict as a python object


def load_results(log_folder: Path | Sequence[Path]) -> list[RunResult]:
    """Every finished run under ``log_folder`` (one or several; those with ``benchmark.json``), named by the algorithm,
    the env-specific helpers it used and the overrides of its entry (``--params``), e.g. ``rcpa (gamma:0.999)``."""
    folders = [log_folder] if isinstance(log_folder, Path) else list(log_folder)
    results = []
    for marker_path in sorted(path for folder in folders for path in folder.glob(f"*/*/{MARKER}")):
        marker = json.loads(marker_path.read_text())
        knowledge = env_knowledge(_run_config(marker_path.parent, marker["env"]))
        label = " + ".join([marker["algo"], *knowledge])
        overrides = marker.get("hyperparams")
        if overrides is None:  # recorded before benchmark.json held the items: read them from its command
            overrides = hyperparams_overrides(marker.get("command", "").split())
        if overrides:  # runs with other settings than the entry's are their own row
            label += f" ({' '.join(overrides)})"
        commit = marker.get("commit")
        by_mode = {}
        for file_name, mode in marker["eval_modes"].items():
            with np.load(marker_path.parent / file_name) as data:
                by_mode[mode] = {key: data[key] for key in data.files}
        timesteps = by_mode["greedy"]["timesteps"]
        n = min(len(timesteps), len(by_mode["sampled"]["timesteps"]))
        wall = next((data["wall_seconds"] for data in by_mode.values() if "wall_seconds" in data), np.full(n, np.nan))
        results.append(
            RunResult(
                label,
                marker["env"],
                int(marker["seed"]),
                int(marker["n_timesteps_done"]),
                float(marker["wall_seconds"]),
                timesteps[:n],
                by_mode["greedy"]["results"][:n].mean(axis=1),
                by_mode["sampled"]["results"][:n].mean(axis=1),
                np.asarray(wall[:n], dtype=float),
                commit,
                is_current(marker["algo"], commit, marker.get("dirty", False)),
            )
        )
    return results


def _interval_estimates(scores: dict[str, np.ndarray], function: Any, reps: int, seed: int) -> tuple[dict, dict]:
    """
    rliable's stratified bootstrap, reproducible: its resampling draws from numpy's global generator
    (``StratifiedBootstrap._get_indices`` calls ``np.random.choice``; ``random_state`` does not reach it), so that is
    seeded here and restored afterwards.
    """
    global_state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # arch warns about random_state: still rliable's API
            return _rliable()[0].get_interval_estimates(scores, function, reps=reps, random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(global_state)


def _interval(scores: np.ndarray, reps: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """Median and IQM of per-seed ``scores`` with 95% stratified-bootstrap intervals (rliable)."""
    # Not rliable's aggregate_median: that is the median over tasks of each task's mean over runs, i.e. the mean over
    # seeds when there is one task (one env), as here
    functions = {"median": np.median, "iqm": _rliable()[1].aggregate_iqm}
    out = {}
    for name, function in functions.items():
        points, intervals = _interval_estimates(
            {"x": scores.reshape(-1, 1)}, lambda x, function=function: np.array([function(x)]), reps, seed
        )
        out[name] = (float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0]))
    return out


def first_reach(run: RunResult, mode: str, threshold: float) -> tuple[float, float]:
    """Env steps and wall seconds of the first evaluation at or above ``threshold`` (NaN if none)."""
    returns = getattr(run, mode)
    reached = np.flatnonzero(returns >= threshold)
    if len(reached) == 0:
        return np.nan, np.nan
    return float(run.timesteps[reached[0]]), float(run.eval_wall_seconds[reached[0]])


def return_at(run: RunResult, mode: str, step: int) -> float:
    """The return of the last evaluation at or before env step ``step`` (NaN if the run stopped before it)."""
    if run.n_timesteps < step:
        return np.nan
    returns = getattr(run, mode)[run.timesteps <= step]
    return float(returns[-1]) if len(returns) else np.nan


def summarize(
    results: Sequence[RunResult],
    thresholds: dict[str, float] | None = None,
    reps: int = 2000,
    at: Sequence[int] = (1_000_000,),
) -> list[dict[str, Any]]:
    """
    One row per (env, algorithm, evaluation mode): seeds, steps per run, the median return over seeds at each step of
    ``at`` (from the last evaluation at or before it; NaN unless every run got that far), final and best return
    (median and IQM over seeds with 95% intervals), seeds that reached the threshold, median steps and wall time to
    reach it, median wall time per run.

    :param results: finished runs (``load_results``)
    :param thresholds: ``{env: return}`` that counts as solved, over ``THRESHOLDS``
    :param reps: bootstrap resamples
    :param at: env steps at which to compare algorithms (equal budgets inside a longer sweep)
    """
    thresholds = {**THRESHOLDS, **(thresholds or {})}
    rows = []
    groups = sorted({(run.env, run.algo) for run in results})
    for env, algo in groups:
        runs = sorted((run for run in results if (run.env, run.algo) == (env, algo)), key=lambda run: run.seed)
        threshold = thresholds.get(env, np.nan)
        for mode in ("greedy", "sampled"):
            final = np.array([getattr(run, mode)[-1] for run in runs])
            best = np.array([getattr(run, mode).max() for run in runs])
            reach = np.array([first_reach(run, mode, threshold) for run in runs])
            final_stats, best_stats = _interval(final, reps, seed=0), _interval(best, reps, seed=0)
            reached = ~np.isnan(reach[:, 0])
            rows.append(
                dict(
                    env=env,
                    algo=algo,
                    mode=mode,
                    seeds=" ".join(str(run.seed) for run in runs),
                    n_timesteps=int(min(run.n_timesteps for run in runs)),
                    **{f"median_at_{step}": float(np.median([return_at(run, mode, step) for run in runs])) for step in at},
                    final_median=final_stats["median"][0],
                    final_median_ci=final_stats["median"][1:],
                    final_iqm=final_stats["iqm"][0],
                    final_iqm_ci=final_stats["iqm"][1:],
                    best_median=best_stats["median"][0],
                    final_per_seed=final.tolist(),
                    threshold=threshold,
                    reached=f"{int(reached.sum())}/{len(runs)}",
                    steps_to_threshold_median=float(np.median(reach[reached, 0])) if reached.any() else np.nan,
                    wall_to_threshold_median=float(np.median(reach[reached, 1])) if reached.any() else np.nan,
                    wall_seconds_median=float(np.median([run.wall_seconds for run in runs])),
                    code=_code_state(runs),
                )
            )
    return rows


def _code_state(runs: Sequence[RunResult]) -> str:
    """``"current"`` when every run used today's code of its algorithm, else how many predate a change to it."""
    stale = sum(run.current is False for run in runs)
    unknown = sum(run.current is None for run in runs)
    if stale:
        return f"{stale}/{len(runs)} predate code changes"
    return "unknown (no git)" if unknown else "current"


def _fmt(value: float, digits: int = 0) -> str:
    return "-" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The report's rows as a Markdown table."""
    at = [int(key.removeprefix("median_at_")) for key in rows[0] if key.startswith("median_at_")]
    header = (
        "| env | algo | eval | seeds | steps | "
        + "".join(f"median at {step / 1e6:g}M | " for step in at)
        + "final median [95% CI] | final IQM [95% CI] | final per seed | best median | "
        "reached threshold | M steps to it (median) | minutes to it | minutes per run | code |"
    )
    lines = [header, "|" + " --- |" * (14 + len(at))]
    for row in rows:
        lines.append(
            f"| {row['env']} | {row['algo']} | {row['mode']} | {row['seeds']} | {row['n_timesteps'] / 1e6:.2f}M | "
            + "".join(f"{_fmt(row[f'median_at_{step}'])} | " for step in at)
            + f"{_fmt(row['final_median'])} [{_fmt(row['final_median_ci'][0])}, {_fmt(row['final_median_ci'][1])}] | "
            f"{_fmt(row['final_iqm'])} [{_fmt(row['final_iqm_ci'][0])}, {_fmt(row['final_iqm_ci'][1])}] | "
            f"{' '.join(_fmt(value) for value in row['final_per_seed'])} | "
            f"{_fmt(row['best_median'])} | {row['reached']} (>= {_fmt(row['threshold'])}) | "
            f"{_fmt(row['steps_to_threshold_median'] / 1e6, 2)} | {_fmt(row['wall_to_threshold_median'] / 60, 1)} | "
            f"{_fmt(row['wall_seconds_median'] / 60, 1)} | {row['code']} |"
        )
    return "\n".join(lines) + "\n"


def plot_curves(results: Sequence[RunResult], path: Path, env: str, reps: int = 2000) -> None:
    """IQM learning curves over seeds with 95% bootstrap bands, greedy and sampled, of every algorithm on ``env``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, mode in zip(axes, ("greedy", "sampled"), strict=True):
        for algo in sorted({run.algo for run in results if run.env == env}):
            runs = [run for run in results if (run.env, run.algo) == (env, algo)]
            n = min(len(run.timesteps) for run in runs)
            scores = np.stack([getattr(run, mode)[:n] for run in runs])[:, None, :]  # (seeds, 1 task, evaluations)
            iqm = _rliable()[1].aggregate_iqm
            points, intervals = _interval_estimates(
                {algo: scores}, lambda x, iqm=iqm: np.array([iqm(x[..., i]) for i in range(x.shape[-1])]), reps, 0
            )
            steps = runs[0].timesteps[:n] / 1e6
            axis.plot(steps, points[algo], label=f"{algo} ({len(runs)} seeds)")
            axis.fill_between(steps, intervals[algo][0], intervals[algo][1], alpha=0.2)
        if env in THRESHOLDS:
            axis.axhline(THRESHOLDS[env], color="grey", linestyle=":", linewidth=1)
        axis.set_title(f"{env}, {mode} evaluation")
        axis.set_xlabel("env steps (millions)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("IQM of the evaluation return over seeds")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(
    log_folder: Path | Sequence[Path],
    output: Path,
    thresholds: dict[str, float] | None = None,
    reps: int = 2000,
    at: Sequence[int] = (1_000_000,),
) -> str:
    """
    Write ``{output}.md``, ``{output}.csv`` and ``{output}_{env}.png`` from the finished runs; return the table.

    :param log_folder: the sweep's log folder (``run -f``), or several
    :param output: path of the report files, without suffix
    :param thresholds: ``{env: return}`` that counts as solved, over ``THRESHOLDS``
    :param reps: bootstrap resamples
    :param at: env steps at which to compare algorithms (a column each)
    """
    if any(step <= 0 for step in at):
        raise ValueError(f"--at takes positive env steps; got {list(at)}")
    folders = ", ".join(str(folder) for folder in ([log_folder] if isinstance(log_folder, Path) else log_folder))
    results = load_results(log_folder)
    if not results:
        raise ValueError(f"No finished run under {folders} (a finished run has {MARKER} in its folder)")
    rows = summarize(results, thresholds, reps, at)
    output.parent.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    output.with_suffix(".md").write_text(
        f"Finished runs under {folders}; `python -m sb3_udrl.benchmark report`. An algorithm named with `+ helper` used "
        "that env-specific helper of `sb3_udrl.envs` (env knowledge); the others, PPO, DQN, A2C and SAC included, had "
        "none. An algorithm followed by `(KEY:VALUE ...)` ran with those overrides of its YAML entry (the sweep's "
        "`--params`). `code`: whether the runs used today's code of the algorithm (their recorded commit).\n\n" + table
    )
    with open(output.with_suffix(".csv"), "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for env in sorted({run.env for run in results}):
        plot_curves(results, output.parent / f"{output.name}_{env}.png", env, reps)
    return table
