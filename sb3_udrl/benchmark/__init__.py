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

from sb3_udrl.benchmark.report import THRESHOLDS, RunResult, load_results, markdown_table, report, summarize
from sb3_udrl.benchmark.speed import speed_sweep, speed_table
from sb3_udrl.benchmark.sweep import (
    ENV_ALIASES,
    MARKER,
    Run,
    changed_settings,
    conf_file,
    is_done,
    parse_conf_files,
    parse_hyperparams,
    parse_shard,
    plan,
    run_sweep,
    train_command,
)
from sb3_udrl.benchmark.versions import code_version, env_knowledge, hyperparams_overrides, is_current

__all__ = [
    "ENV_ALIASES",
    "MARKER",
    "THRESHOLDS",
    "Run",
    "RunResult",
    "changed_settings",
    "code_version",
    "conf_file",
    "env_knowledge",
    "hyperparams_overrides",
    "is_current",
    "is_done",
    "load_results",
    "markdown_table",
    "parse_conf_files",
    "parse_hyperparams",
    "parse_shard",
    "plan",
    "report",
    "run_sweep",
    "speed_sweep",
    "speed_table",
    "summarize",
    "train_command",
]
