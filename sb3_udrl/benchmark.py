"""Benchmark sweeps through rl-zoo3: every (algorithm, env, seed) at one env-step budget, then one report.

    python -m sb3_udrl.benchmark run --algos udrl rcpr rcpa ppo dqn a2c --envs LunarLander-v3 LunarLanderSparse-v3 \\
        --seeds 0 1 2 3 4 -n 3000000
    python -m sb3_udrl.benchmark report
    python -m sb3_udrl.benchmark speed --algos udrl ppo --env LunarLander-v3 -n 3000000   # on an idle machine

``run`` trains each run with rl-zoo3's ``train`` (sb3_udrl's algorithms with ``hyperparams/{algo}.yml``, the others
with rl-zoo3's own tuned file), all at the same ``-n`` env steps, evaluating every ``--eval-freq`` steps on
``--eval-episodes`` episodes in both action modes: rl-zoo3's ``evaluations.npz`` (greedy, its default outside Atari)
and ``sampled/evaluations.npz`` from a second ``EvalCallback`` on the same kind of evaluation env, which also records
the wall time of each evaluation. Each run has its own rl-zoo3 log folder, ``{log_folder}/{algo}/{env}_{seed}``
(rl-zoo3's ``all_plots``, ``enjoy`` and ``record_video`` read it as any other), and ``benchmark.json`` in it once
it reached its budget: a run with that file is never redone, a run folder without it (interrupted) is started again.
Runs go seed-major (every algorithm and env of seed 0 first), ``--jobs`` at a time; ``--shard K/N`` takes every N-th
run, so N machines sharing the log folder split a sweep with no scheduler. Envs without an entry in an rl-zoo3
file use the entry of a related env (``LunarLanderSparse-v3`` that of ``LunarLander-v3``), written to
``{log_folder}/hyperparams/{algo}.yml``; an (algorithm, env) pair with no entry at all is skipped and listed.

``report`` aggregates the finished runs with rliable (bundled with ``rl_zoo3[plots]``): per env and algorithm, the
median return over seeds at the steps of ``--at`` (who leads at 1M inside a 3M sweep), the final and best return over
seeds (median and IQM with 95% stratified-bootstrap intervals), env steps and wall time to first reach a threshold,
the wall time per run; a Markdown table, a CSV and one learning-curve PNG per env (IQM over seeds with its interval
band).

``speed`` trains one run of each algorithm after the other, without evaluations, and writes each one's wall time and
its ratio to random-action stepping of its own VecEnv (``speed_{env}.json`` and ``.md``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from rliable import library as rly
from rliable import metrics

#: Envs that rl-zoo3's files lack, and the env whose tuned entry stands in for them (same dynamics and spaces)
ENV_ALIASES: dict[str, str] = {"LunarLanderSparse-v3": "LunarLander-v3"}

#: Return that counts as "solved" in the report, per env
THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "LunarLander-v3": 200.0,
    "LunarLanderSparse-v3": 200.0,
    "LunarLanderContinuous-v3": 200.0,
    "Pendulum-v1": -200.0,
}

MARKER = "benchmark.json"
OTHER_MODE_FOLDER = "sampled"


class Run(NamedTuple):
    """One training run of a sweep."""

    algo: str
    env: str
    seed: int
    n_timesteps: int

    def folder(self, log_folder: Path) -> Path:
        """The run's rl-zoo3 log folder."""
        return log_folder / self.algo / f"{self.env}_{self.seed}"


# ----------------------------------------------------------------------------------------------------------------------
# Planning
def _zoo_entries(algo: str, conf: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The hyperparameter file rl-zoo3 would use for ``algo`` (``conf`` instead for sb3_udrl's) and its entries."""
    import yaml

    from sb3_udrl.zoo import ZOO_ALGOS, default_config

    if algo in ZOO_ALGOS:
        path = Path(default_config(algo)) if conf is None else Path(conf)
    else:
        # Located without importing rl_zoo3, which patches gymnasium's TimeLimit when imported
        spec = importlib.util.find_spec("rl_zoo3")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("The benchmark runner needs rl-zoo3: pip install sb3_udrl[zoo]")
        path = Path(spec.submodule_search_locations[0]) / "hyperparams" / f"{algo}.yml"
        if not path.is_file():
            raise ValueError(f"Unknown algorithm {algo!r}: neither sb3_udrl nor rl-zoo3 has a file {path.name}")
    with open(path) as file:
        return path, yaml.safe_load(file)


def parse_shard(shard: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``, ``1 <= K <= N``."""
    try:
        k, n = (int(part) for part in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard must be K/N with integers, e.g. 1/2; got {shard!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard K/N needs 1 <= K <= N; got {shard!r}")
    return k, n


def plan(
    algos: Sequence[str],
    envs: Sequence[str],
    seeds: Sequence[int],
    n_timesteps: int,
    caps: dict[str, int] | None = None,
    shard: tuple[int, int] = (1, 1),
    conf: Path | None = None,
) -> tuple[list[Run], list[str]]:
    """
    The runs of a sweep, seed-major, and the (algorithm, env) pairs skipped for want of hyperparameters.

    :param algos: algorithm names of rl-zoo3 (``udrl``, ``rcpr``, ``rcpa``, ``ppo``, ...)
    :param envs: gymnasium ids
    :param seeds: seeds
    :param n_timesteps: env steps of every run
    :param caps: a smaller budget for some algorithms (too costly at the full one); the report shows each run's steps
    :param shard: ``(K, N)``: keep the runs whose position in the sweep is ``K - 1`` modulo ``N``
    :param conf: hyperparameter file of sb3_udrl's algorithms instead of ``hyperparams/{algo}.yml``
    :return: the runs and the reasons for skipped pairs
    """
    if n_timesteps <= 0:
        raise ValueError(f"The budget must be a positive number of env steps; got {n_timesteps}")
    caps = caps or {}
    skipped, pairs = [], []
    for algo in algos:
        _, entries = _zoo_entries(algo, conf)
        for env in envs:
            if env in entries or ENV_ALIASES.get(env) in entries:
                pairs.append((algo, env))
            else:
                skipped.append(f"{algo} on {env}: rl-zoo3 has no {algo} settings for it")
    runs = [
        Run(algo, env, seed, min(n_timesteps, caps.get(algo, n_timesteps)))
        for seed in seeds
        for env in envs
        for algo, pair_env in pairs
        if pair_env == env
    ]
    k, n = shard
    return runs[k - 1 :: n], skipped


def _entry(entries: dict[str, Any], env: str) -> dict[str, Any]:
    """The hyperparameters of ``env`` in a file's ``entries``: its own, or those of its alias (``ENV_ALIASES``)."""
    return entries[env] if env in entries else entries[ENV_ALIASES[env]]


def conf_file(algo: str, env: str, log_folder: Path, conf: Path | None = None) -> Path:
    """The hyperparameter file of a run: the algorithm's own (or ``conf``), or a copy with the aliased env's entry."""
    import yaml

    path, entries = _zoo_entries(algo, conf)
    if env in entries:
        return path
    entries = {**entries, env: _entry(entries, env)}
    target = log_folder / "hyperparams" / f"{algo}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {path} with {env} taking the entry of {ENV_ALIASES[env]} (sb3_udrl.benchmark.ENV_ALIASES)\n"
    target.write_text(header + yaml.safe_dump(entries, sort_keys=False))
    return target


def is_done(run: Run, log_folder: Path) -> bool:
    """Whether the run finished with at least its budget (``benchmark.json`` says so)."""
    marker = run.folder(log_folder) / MARKER
    if not marker.is_file():
        return False
    try:
        return int(json.loads(marker.read_text())["n_timesteps_done"]) >= run.n_timesteps
    except (ValueError, KeyError, TypeError):
        return False


def parse_hyperparams(items: Sequence[str]) -> dict[str, Any]:
    """``KEY:VALUE`` overrides read as rl-zoo3's ``--hyperparams`` reads them (``StoreDict``: each value evaluated)."""
    from rl_zoo3.utils import StoreDict

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--params", nargs="*", action=StoreDict, default={})
    for item in items:
        if ":" not in item:
            raise ValueError(f"--params takes KEY:VALUE items (e.g. gamma:0.99); got {item!r}")
    try:
        return parser.parse_args(["--params", *items]).params
    except Exception as error:  # eval() of the value: NameError, SyntaxError, ...
        raise ValueError(f"--params {' '.join(items)}: a value is not a Python expression ({error})") from error


def changed_settings(
    run: Run, log_folder: Path, hyperparams: dict[str, Any] | None = None, conf: Path | None = None
) -> list[str]:
    """
    How the hyperparameters a finished run was trained with (its rl-zoo3 ``config.yml``) differ from its entry in the
    hyperparameter file now with ``hyperparams`` on top (the sweep's ``--params``), as ``"key: old -> new"``
    (``n_timesteps`` aside: the sweep sets the budget). A finished run is never redone, so a run trained before its
    entry changed would otherwise stand for the new setting.
    """
    import yaml

    saved_path = run.folder(log_folder) / run.env / "config.yml"
    if not saved_path.is_file():
        return []
    with open(saved_path) as file:
        # rl-zoo3 writes an OrderedDict as a python object (and reads it back the same way)
        saved = dict(yaml.load(file, Loader=yaml.UnsafeLoader))
    entry = {**_entry(_zoo_entries(run.algo, conf)[1], run.env), **(hyperparams or {})}
    changes = []
    for key in sorted((set(saved) | set(entry)) - {"n_timesteps"}):
        old, new = saved.get(key, "(unset)"), entry.get(key, "(unset)")
        if old != new:
            changes.append(f"{key}: {old} -> {new}")
    return changes


# ----------------------------------------------------------------------------------------------------------------------
# Code versions
def _git(*args: str) -> str | None:
    """Output of ``git args`` in the package's checkout, or None outside one."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


#: The code under each of sb3_udrl's algorithms (paths relative to the package): a run made before the last commit
#: that changed it is marked in the report
ALGORITHM_CODE: dict[str, tuple[str, ...]] = {
    "udrl": ("common", "udrl"),
    "rcpr": ("common", "rcp"),
    "rcpa": ("common", "rcp"),
}


def code_version() -> dict[str, Any]:
    """The package version and, in a git checkout, the commit and whether the algorithms' code (``ALGORITHM_CODE``)
    had uncommitted changes."""
    from sb3_udrl import __version__

    package = Path(__file__).resolve().parent
    paths = sorted({str(package / part) for parts in ALGORITHM_CODE.values() for part in parts})
    commit = _git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git("status", "--porcelain", "--", *paths))
    return dict(version=__version__, commit=commit, dirty=dirty)


def is_current(algo: str, commit: str | None, dirty: bool | None = False) -> bool | None:
    """
    Whether a run made at ``commit`` ran today's code of ``algo``: no commit since changed ``ALGORITHM_CODE[algo]``.
    True for algorithms outside sb3_udrl; None when it cannot be told (no git checkout); False for a run with no
    recorded commit, or with uncommitted changes.
    """
    if algo not in ALGORITHM_CODE:
        return True
    package = Path(__file__).resolve().parent
    last_change = _git("log", "-1", "--format=%H", "--", *(str(package / part) for part in ALGORITHM_CODE[algo]))
    if not last_change:
        return None
    if commit is None or dirty:
        return False
    return _git("merge-base", "--is-ancestor", last_change, commit) is not None


def env_knowledge(config: dict[str, Any]) -> list[str]:
    """
    The env-specific helpers a run's hyperparameters (rl-zoo3's ``config.yml``) name: values that are, or contain,
    a dotted path under ``sb3_udrl.envs``, by key (e.g. ``["ground_holds", "lunar_lander_mirror"]``).
    """
    names = []
    for key, value in sorted(config.items()):  # in the order of rl-zoo3's config.yml
        for text in [value, *(value.keys() if isinstance(value, dict) else [])]:
            if isinstance(text, str) and text.startswith("sb3_udrl.envs."):
                names.append(text.rsplit(".", 1)[-1])
        if key in ("symmetry", "hold_when") and value is not None:  # the options before sb3_udrl.envs
            names.append(f"{key}={value}")
    return names


# ----------------------------------------------------------------------------------------------------------------------
# One run (in its own process)
def _train_one(argv: list[str]) -> None:
    """
    rl-zoo3's ``train`` with ``argv`` (its own options) and a fixed log folder for the run: ``--run-name NAME`` (ours,
    removed from ``argv``) replaces rl-zoo3's ``{env}_{latest + 1}``. Adds the evaluation in the other action mode
    and writes ``benchmark.json`` once the trained model is saved.
    """
    import rl_zoo3.train
    from stable_baselines3.common.callbacks import EvalCallback

    from sb3_udrl.zoo import cli
    from sb3_udrl.zoo.experiment import ResumableExperimentManager

    name_index = argv.index("--run-name")
    run_name = argv[name_index + 1]
    argv = argv[:name_index] + argv[name_index + 2 :]

    class TimedEvalCallback(EvalCallback):
        """``EvalCallback`` whose ``evaluations.npz`` also holds the wall time of each evaluation since learning began."""

        def _on_training_start(self) -> None:
            super()._on_training_start()
            self.start_time = time.perf_counter()
            self.wall_seconds: list[float] = []

        def _on_step(self) -> bool:
            n_evaluations = len(self.evaluations_timesteps)
            keep_going = super()._on_step()
            if len(self.evaluations_timesteps) > n_evaluations and self.log_path is not None:
                self.wall_seconds.append(time.perf_counter() - self.start_time)
                np.savez(
                    self.log_path,
                    timesteps=self.evaluations_timesteps,
                    results=self.evaluations_results,
                    ep_lengths=self.evaluations_length,
                    wall_seconds=self.wall_seconds,
                )
            return keep_going

    class BenchmarkExperimentManager(ResumableExperimentManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.save_path = os.path.join(self.log_path, run_name)
            self.params_path = f"{self.save_path}/{self.env_name}"
            self._start_time = time.perf_counter()

        def create_callbacks(self) -> None:
            super().create_callbacks()  # rl-zoo3's evaluation; self.eval_freq is now per env
            if self.eval_freq > 0 and not self.optimize_hyperparameters:
                self.callbacks.append(
                    TimedEvalCallback(
                        self.create_envs(self.n_eval_envs, eval_env=True),
                        n_eval_episodes=self.n_eval_episodes,
                        eval_freq=self.eval_freq,
                        log_path=os.path.join(self.save_path, OTHER_MODE_FOLDER),
                        deterministic=not self.deterministic_eval,
                        verbose=0,
                    )
                )

        def save_trained_model(self, model: Any) -> None:
            super().save_trained_model(model)
            greedy = self.deterministic_eval
            marker = dict(
                algo=self.algo,
                env=str(self.env_name),
                seed=self.seed,
                n_timesteps=self.n_timesteps,
                n_timesteps_done=int(model.num_timesteps),
                wall_seconds=time.perf_counter() - self._start_time,
                eval_modes={
                    "evaluations.npz": "greedy" if greedy else "sampled",
                    f"{OTHER_MODE_FOLDER}/evaluations.npz": "sampled" if greedy else "greedy",
                },
                command=" ".join(["python -m sb3_udrl.train", *argv]),
                **code_version(),
            )
            if model.num_timesteps >= self.n_timesteps:  # not when stopped early (Ctrl-C: rl-zoo3 still saves)
                Path(self.save_path, MARKER).write_text(json.dumps(marker, indent=1))

    rl_zoo3.train.ExperimentManager = BenchmarkExperimentManager  # type: ignore[misc]
    sys.argv = ["python -m sb3_udrl.train", *argv]
    cli.train()


def train_command(
    run: Run,
    log_folder: Path,
    eval_freq: int,
    eval_episodes: int,
    eval_envs: int = 1,
    hyperparams: Sequence[str] = (),
    conf: Path | None = None,
) -> list[str]:
    """The command line that trains ``run`` (a new Python process), with ``KEY:VALUE`` overrides of its entry."""
    argv = [
        "--algo", run.algo, "--env", run.env, "--seed", str(run.seed), "-n", str(run.n_timesteps),
        "--eval-freq", str(eval_freq), "--eval-episodes", str(eval_episodes), "--n-eval-envs", str(eval_envs),
        "-f", str(log_folder), "--run-name", f"{run.env}_{run.seed}", "--log-interval", "-2",
        "--conf-file", str(conf_file(run.algo, run.env, log_folder, conf)),
    ]  # fmt: skip
    if hyperparams:
        argv += ["--hyperparams", *hyperparams]
    return [sys.executable, "-m", "sb3_udrl.benchmark", "_train", *argv]


def train_in_folder(run: Run, log_folder: Path, command: list[str]) -> str:
    """
    Run ``command`` (``train_command``) in a fresh folder for ``run`` (a folder left by an interrupted run is removed
    first), its output in ``train.log``.

    :return: ``"done"`` or ``"failed (exit code N, see LOG)"``
    """
    folder = run.folder(log_folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log_path = folder / "train.log"
    with open(log_path, "w") as log:
        returncode = subprocess.call(command, stdout=log, stderr=log)
    if returncode == 0 and is_done(run, log_folder):
        return "done"
    return f"failed (exit code {returncode}, see {log_path})"


def run_sweep(
    runs: Sequence[Run],
    log_folder: Path,
    eval_freq: int = 50_000,
    eval_episodes: int = 20,
    jobs: int = 1,
    eval_envs: int = 1,
    hyperparams: Sequence[str] = (),
    conf: Path | None = None,
) -> dict[Run, str]:
    """
    Train the runs that are not done, ``jobs`` at a time. A run folder left by an interrupted run is removed first.
    ``eval_envs`` evaluation envs share the ``eval_episodes`` (SB3's ``evaluate_policy``: a fixed share each);
    ``hyperparams`` (``KEY:VALUE``, rl-zoo3's ``--hyperparams``) override every run's entry; ``conf`` replaces the
    hyperparameter file of sb3_udrl's algorithms.

    :return: each run's outcome: ``"done before"``, ``"done"`` or ``"failed (exit code N, see LOG)"``
    """
    log_folder.mkdir(parents=True, exist_ok=True)
    outcomes: dict[Run, str] = {run: "done before" for run in runs if is_done(run, log_folder)}

    def train(run: Run) -> str:
        return train_in_folder(
            run, log_folder, train_command(run, log_folder, eval_freq, eval_episodes, eval_envs, hyperparams, conf)
        )

    todo = [run for run in runs if run not in outcomes]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(train, run): run for run in todo}
        for future in concurrent.futures.as_completed(futures):
            run = futures[future]
            outcomes[run] = future.result()
            print(f"{run.algo} {run.env} seed {run.seed}: {outcomes[run]}", flush=True)
    except KeyboardInterrupt:
        # Ctrl-C reaches the runs too: rl-zoo3 saves them, short of their budget (no benchmark.json: redone later)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


# ----------------------------------------------------------------------------------------------------------------------
# Report
class RunResult(NamedTuple):
    """The evaluations of one finished run."""

    algo: str  # with the env-specific helpers it used, e.g. "udrl + lunar_lander_mirror + ground_holds"
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
    """Every finished run under ``log_folder`` (one or several; those with ``benchmark.json``), named by the algorithm
    and the env-specific helpers it used."""
    folders = [log_folder] if isinstance(log_folder, Path) else list(log_folder)
    results = []
    for marker_path in sorted(path for folder in folders for path in folder.glob(f"*/*/{MARKER}")):
        marker = json.loads(marker_path.read_text())
        knowledge = env_knowledge(_run_config(marker_path.parent, marker["env"]))
        label = " + ".join([marker["algo"], *knowledge])
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
            return rly.get_interval_estimates(scores, function, reps=reps, random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(global_state)


def _interval(scores: np.ndarray, reps: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """Median and IQM of per-seed ``scores`` with 95% stratified-bootstrap intervals (rliable)."""
    # Not rliable's aggregate_median: that is the median over tasks of each task's mean over runs, i.e. the mean over
    # seeds when there is one task (one env), as here
    functions = {"median": np.median, "iqm": metrics.aggregate_iqm}
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
            points, intervals = _interval_estimates(
                {algo: scores}, lambda x: np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])]), reps, 0
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
    results = load_results(log_folder)
    if not results:
        raise ValueError(f"No finished run under {log_folder} (a finished run has {MARKER} in its folder)")
    rows = summarize(results, thresholds, reps, at)
    output.parent.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    folders = ", ".join(str(folder) for folder in ([log_folder] if isinstance(log_folder, Path) else log_folder))
    output.with_suffix(".md").write_text(
        f"Finished runs under {folders}; `python -m sb3_udrl.benchmark report`. An algorithm named with `+ helper` used "
        "that env-specific helper of `sb3_udrl.envs` (env knowledge); the others, PPO, DQN, A2C and SAC included, had "
        "none. `code`: whether the runs used today's code of the algorithm (their recorded commit).\n\n" + table
    )
    with open(output.with_suffix(".csv"), "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for env in sorted({run.env for run in results}):
        plot_curves(results, output.parent / f"{output.name}_{env}.png", env, reps)
    return table


# ----------------------------------------------------------------------------------------------------------------------
# Speed
def random_stepping_seconds(env: str, entry: dict[str, Any], n_timesteps: int, seed: int = 0) -> float:
    """
    Seconds that ``n_timesteps`` random-action steps take in the VecEnv rl-zoo3 builds for ``entry`` (its ``n_envs``
    and ``env_wrapper``, ``make_vec_env`` without a render mode, as ``sb3_udrl.train`` makes them).

    :param env: gymnasium id
    :param entry: the algorithm's hyperparameters for ``env``
    :param n_timesteps: env steps to time (all envs together)
    :param seed: seed of the envs
    """
    from rl_zoo3.utils import get_wrapper_class
    from stable_baselines3.common.env_util import make_vec_env

    vec_env = make_vec_env(
        env,
        n_envs=entry.get("n_envs", 1),
        seed=seed,
        wrapper_class=get_wrapper_class(entry),
        env_kwargs={"render_mode": None},
    )
    vec_env.action_space.seed(seed)
    vec_env.reset()
    start = time.perf_counter()
    for _ in range(max(1, n_timesteps // vec_env.num_envs)):
        vec_env.step(np.array([vec_env.action_space.sample() for _ in range(vec_env.num_envs)]))
    seconds = time.perf_counter() - start
    vec_env.close()
    return seconds * n_timesteps / (max(1, n_timesteps // vec_env.num_envs) * vec_env.num_envs)


def speed_sweep(
    algos: Sequence[str],
    env: str,
    n_timesteps: int,
    log_folder: Path,
    seed: int = 0,
    random_timesteps: int | None = None,
) -> list[dict[str, Any]]:
    """
    Wall time of a whole run of each algorithm, one after the other on this machine, with its YAML entry (ours, or
    rl-zoo3's tuned one) at ``n_timesteps`` env steps, without evaluations; and its ratio to random-action stepping
    of the same VecEnv. Run it on an otherwise idle machine: the times are only comparable within one sweep.

    :param algos: rl-zoo3 algorithm names
    :param env: gymnasium id
    :param n_timesteps: env steps of every run
    :param log_folder: where the runs are trained (rl-zoo3's layout; ``{algo}/{env}_{seed}``)
    :param seed: seed of every run
    :param random_timesteps: env steps of random stepping, scaled to the run's (default: ``n_timesteps``)
    :return: one dict per algorithm
    """
    runs, skipped = plan(algos, [env], [seed], n_timesteps)
    if skipped:
        raise ValueError(f"No settings to time: {'; '.join(skipped)}")
    rows = []
    for run in runs:
        algo = run.algo
        entry = _entry(_zoo_entries(algo)[1], env)
        random_steps = random_timesteps or n_timesteps
        random_seconds = random_stepping_seconds(env, entry, random_steps, seed)
        command = train_command(run, log_folder, eval_freq=-1, eval_episodes=1)
        start = time.perf_counter()
        outcome = train_in_folder(run, log_folder, command)
        process_seconds = time.perf_counter() - start
        if outcome != "done":
            raise RuntimeError(f"{algo} on {env}: {outcome}")
        marker = json.loads((run.folder(log_folder) / MARKER).read_text())
        steps, seconds = marker["n_timesteps_done"], marker["wall_seconds"]
        random_seconds_per_step = random_seconds / random_steps
        rows.append(
            dict(
                algo=algo,
                env=env,
                n_envs=entry.get("n_envs", 1),
                n_timesteps=steps,
                run_seconds=seconds,
                process_seconds=process_seconds,
                random_stepping_seconds=random_seconds_per_step * steps,
                time_ratio_to_random_stepping=seconds / (random_seconds_per_step * steps),
                command=" ".join(["python -m sb3_udrl.benchmark", *command[command.index("_train") :]]),
            )
        )
        print(f"{algo}: {seconds / 60:.1f} min, {rows[-1]['time_ratio_to_random_stepping']:.2f}x random stepping")
    return rows


def speed_table(rows: Sequence[dict[str, Any]]) -> str:
    """The speed sweep's rows as a Markdown table."""
    fastest = min(row["run_seconds"] for row in rows)
    lines = [
        "| algo | env | n_envs | steps | minutes per run | random stepping (minutes) | ratio to random stepping | "
        "time relative to the fastest |",
        "|" + " --- |" * 8,
    ]
    for row in rows:
        lines.append(
            f"| {row['algo']} | {row['env']} | {row['n_envs']} | {row['n_timesteps'] / 1e6:.2f}M | "
            f"{row['run_seconds'] / 60:.1f} | {row['random_stepping_seconds'] / 60:.1f} | "
            f"{row['time_ratio_to_random_stepping']:.2f} | {row['run_seconds'] / fastest:.2f} |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------------
# Command line
def _key_values(items: Sequence[str], kind: type, option: str) -> dict[str, Any]:
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{option} takes NAME=VALUE items; got {item!r}")
        values[key] = kind(float(value))
    return values


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sb3_udrl.benchmark``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_train"]:
        _train_one(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m sb3_udrl.benchmark", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train the runs of a sweep that are not done yet")
    run_parser.add_argument("--algos", nargs="+", required=True, help="rl-zoo3 algorithm names")
    run_parser.add_argument("--envs", nargs="+", required=True)
    run_parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    run_parser.add_argument("-n", "--n-timesteps", type=int, required=True, help="env steps of every run")
    run_parser.add_argument("--cap", nargs="*", default=[], help="ALGO=STEPS: a smaller budget for a costly algorithm")
    run_parser.add_argument("--eval-freq", type=int, default=50_000, help="env steps between evaluations")
    run_parser.add_argument("--eval-episodes", type=int, default=20)
    run_parser.add_argument(
        "--n-eval-envs", type=int, default=5, help="evaluation envs (each runs a fixed share of the episodes; batched)"
    )
    run_parser.add_argument("-f", "--log-folder", type=Path, default=Path("benchmarks/logs"))
    run_parser.add_argument(
        "--jobs", type=int, default=max(1, (os.cpu_count() or 1) // 2), help="runs at once (default: half the cores)"
    )
    run_parser.add_argument("--shard", default="1/1", help="K/N: this machine's share of the runs")
    run_parser.add_argument(
        "--params",
        nargs="*",
        default=[],
        help="KEY:VALUE overrides of every run's hyperparameters (rl-zoo3's --hyperparams), e.g. a probe with its "
        "own -f folder",
    )
    run_parser.add_argument(
        "--conf-file", type=Path, default=None, help="hyperparameter file of sb3_udrl's algorithms (default: their own)"
    )
    run_parser.add_argument("--dry-run", action="store_true", help="list the runs and what is done, train nothing")
    report_parser = commands.add_parser("report", help="aggregate the finished runs (rliable)")
    report_parser.add_argument("-f", "--log-folder", type=Path, nargs="+", default=[Path("benchmarks/logs")])
    report_parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/sweep"))
    report_parser.add_argument("--threshold", nargs="*", default=[], help="ENV=RETURN: the return that counts as solved")
    report_parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    report_parser.add_argument(
        "--at", nargs="*", type=int, default=[1_000_000], help="env steps at which to compare (a median column each)"
    )
    speed_parser = commands.add_parser("speed", help="time a whole run of each algorithm, one after the other")
    speed_parser.add_argument("--algos", nargs="+", required=True, help="rl-zoo3 algorithm names")
    speed_parser.add_argument("--env", default="LunarLander-v3")
    speed_parser.add_argument("-n", "--n-timesteps", type=int, default=3_000_000, help="env steps of every run")
    speed_parser.add_argument("--seed", type=int, default=0)
    speed_parser.add_argument("--random-timesteps", type=int, default=None, help="env steps of random stepping (default: -n)")
    speed_parser.add_argument("-f", "--log-folder", type=Path, default=None, help="default: a temporary folder")
    speed_parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/speed_sweep"))
    args = parser.parse_args(argv)

    if args.command == "speed":
        import platform
        import tempfile

        import torch as th

        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as temporary:
            rows = speed_sweep(
                args.algos, args.env, args.n_timesteps, args.log_folder or Path(temporary), args.seed, args.random_timesteps
            )
        table = speed_table(rows)
        machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {th.__version__}, load {load:.2f} at the start"
        output = args.output.with_name(f"{args.output.name}_{args.env}")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.with_suffix(".json").write_text(json.dumps(dict(machine=machine, rows=rows), indent=1))
        command = "python -m sb3_udrl.benchmark " + " ".join(argv)
        output.with_suffix(".md").write_text(f"`{command}` ({machine}).\n\n{table}")
        print(table)
        return
    if args.command == "report":
        thresholds = _key_values(args.threshold, float, "--threshold")
        print(report(args.log_folder, args.output, thresholds, args.reps, args.at))
        return
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {args.jobs}")
    hyperparams = parse_hyperparams(args.params)
    runs, skipped = plan(
        args.algos,
        args.envs,
        args.seeds,
        args.n_timesteps,
        _key_values(args.cap, int, "--cap"),
        parse_shard(args.shard),
        args.conf_file,
    )
    for reason in skipped:
        print(f"skipped: {reason}")
    done = [run for run in runs if is_done(run, args.log_folder)]
    print(f"{len(runs)} runs in this shard, {len(done)} done, {len(runs) - len(done)} to train, {args.jobs} at a time")
    for run in done:
        changes = changed_settings(run, args.log_folder, hyperparams, args.conf_file)
        if changes:
            print(
                f"warning: {run.algo} {run.env} seed {run.seed} was trained with other settings than its entry has now "
                f"({'; '.join(changes)}); it is kept as done: move {run.folder(args.log_folder)} away to train it again"
            )
    if args.dry_run:
        for run in runs:
            state = "done" if run in done else "to train"
            print(f"  {run.algo} {run.env} seed {run.seed} {run.n_timesteps} steps: {state}")
        return
    outcomes = run_sweep(
        runs, args.log_folder, args.eval_freq, args.eval_episodes, args.jobs, args.n_eval_envs, args.params, args.conf_file
    )
    failed = [run for run, outcome in outcomes.items() if outcome.startswith("failed")]
    if failed:
        sys.exit(f"{len(failed)} runs failed: {[f'{run.algo} {run.env} seed {run.seed}' for run in failed]}")


if __name__ == "__main__":
    main()
