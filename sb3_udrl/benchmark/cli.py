"""``python -m sb3_udrl.benchmark run|report|speed`` (see :mod:`sb3_udrl.benchmark`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sb3_udrl.benchmark.report import report
from sb3_udrl.benchmark.speed import speed_sweep, speed_table
from sb3_udrl.benchmark.sweep import (
    _train_one,
    changed_settings,
    is_done,
    parse_conf_files,
    parse_hyperparams,
    parse_shard,
    plan,
    run_sweep,
)


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
    parser = argparse.ArgumentParser(
        prog="python -m sb3_udrl.benchmark", description=sys.modules["sb3_udrl.benchmark"].__doc__.split("\n\n")[0]
    )
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
    run_parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of each run (default: cores // jobs); 1 for each of two sweeps at once on 2 cores",
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
        "--conf-file",
        nargs="+",
        default=[],
        help="hyperparameter files instead of the default ones: FILE for sb3_udrl's algorithms, ALGO=FILE for one "
        "algorithm (e.g. ppo=hyperparams/vizdoom_baselines/ppo.yml)",
    )
    run_parser.add_argument(
        "--gym-packages", nargs="+", default=[], help="modules that register the envs (e.g. vizdoom.gymnasium_wrapper)"
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
    speed_parser.add_argument("--conf-file", nargs="+", default=[], help="as for run")
    speed_parser.add_argument("--gym-packages", nargs="+", default=[], help="as for run")
    speed_parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/speed_sweep"))
    args = parser.parse_args(argv)

    if args.command == "speed":
        import platform
        import tempfile

        import torch as th

        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as temporary:
            rows = speed_sweep(
                args.algos,
                args.env,
                args.n_timesteps,
                args.log_folder or Path(temporary),
                args.seed,
                args.random_timesteps,
                parse_conf_files(args.conf_file),
                args.gym_packages,
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
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1; got {args.threads}")
    hyperparams = parse_hyperparams(args.params)
    conf = parse_conf_files(args.conf_file)
    runs, skipped = plan(
        args.algos,
        args.envs,
        args.seeds,
        args.n_timesteps,
        _key_values(args.cap, int, "--cap"),
        parse_shard(args.shard),
        conf,
    )
    for reason in skipped:
        print(f"skipped: {reason}")
    done = [run for run in runs if is_done(run, args.log_folder)]
    print(f"{len(runs)} runs in this shard, {len(done)} done, {len(runs) - len(done)} to train, {args.jobs} at a time")
    for run in done:
        changes = changed_settings(run, args.log_folder, hyperparams, conf)
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
        runs,
        args.log_folder,
        args.eval_freq,
        args.eval_episodes,
        args.jobs,
        args.n_eval_envs,
        args.params,
        conf,
        args.gym_packages,
        args.threads,
    )
    failed = [run for run, outcome in outcomes.items() if outcome.startswith("failed")]
    if failed:
        sys.exit(f"{len(failed)} runs failed: {[f'{run.algo} {run.env} seed {run.seed}' for run in failed]}")
