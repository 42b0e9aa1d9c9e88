"""The benchmark runner (sb3_udrl.benchmark): plan, shards, rl-zoo3 runs in both evaluation modes, resume, report."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("rl_zoo3")
pytest.importorskip("rliable")

import sb3_udrl
from sb3_udrl import benchmark
from sb3_udrl.benchmark import Run, versions
from sb3_udrl.benchmark.cli import main
from sb3_udrl.benchmark.report import _interval


def test_plan_is_seed_major_shards_split_it_and_pairs_without_settings_are_skipped():
    runs, skipped = benchmark.plan(
        ["udrl", "dqn"], ["CartPole-v1", "LunarLanderContinuous-v3"], [0, 1], 1000, caps={"dqn": 500}
    )
    assert runs[:3] == [
        Run("udrl", "CartPole-v1", 0, 1000),
        Run("dqn", "CartPole-v1", 0, 500),
        Run("udrl", "LunarLanderContinuous-v3", 0, 1000),
    ]
    assert [run.seed for run in runs] == [0, 0, 0, 1, 1, 1]
    assert skipped == ["dqn on LunarLanderContinuous-v3: rl-zoo3 has no dqn settings for it"]
    shards = [benchmark.plan(["udrl", "dqn"], ["CartPole-v1"], [0, 1, 2], 1000, shard=(k, 2))[0] for k in (1, 2)]
    full = benchmark.plan(["udrl", "dqn"], ["CartPole-v1"], [0, 1, 2], 1000)[0]
    assert sorted(shards[0] + shards[1]) == sorted(full) and not set(shards[0]) & set(shards[1])


@pytest.mark.parametrize("shard", ["3/2", "0/2", "1", "a/b"])
def test_bad_shard_is_refused(shard):
    with pytest.raises(ValueError, match="--shard"):
        benchmark.parse_shard(shard)


def test_bad_algo_and_budget_are_refused():
    with pytest.raises(ValueError, match="Unknown algorithm 'nope'"):
        benchmark.plan(["nope"], ["CartPole-v1"], [0], 1000)
    with pytest.raises(ValueError, match="positive number of env steps"):
        benchmark.plan(["udrl"], ["CartPole-v1"], [0], 0)


def test_baseline_on_an_env_rl_zoo3_lacks_takes_the_related_entry(tmp_path):
    path = benchmark.conf_file("ppo", "LunarLanderSparse-v3", tmp_path)
    entries = yaml.safe_load(path.read_text())
    assert entries["LunarLanderSparse-v3"] == entries["LunarLander-v3"]
    # ours and rl-zoo3's own entries are used as they are
    assert benchmark.conf_file("udrl", "LunarLanderSparse-v3", tmp_path).name == "udrl.yml"
    assert benchmark.conf_file("ppo", "CartPole-v1", tmp_path).parent.parent.name == "rl_zoo3"


def test_finished_run_trained_with_other_settings_is_named(tmp_path, capsys):
    run = Run("rcpa", "LunarLanderSparse-v3", 0, 1000)
    entry = yaml.safe_load(benchmark.conf_file("rcpa", run.env, tmp_path).read_text())[run.env]
    saved = run.folder(tmp_path) / run.env / "config.yml"
    saved.parent.mkdir(parents=True)
    (run.folder(tmp_path) / "benchmark.json").write_text(json.dumps(dict(n_timesteps_done=1000)))

    def write_config(params):  # rl-zoo3's format: an OrderedDict dumped as a python object
        from collections import OrderedDict

        saved.write_text(yaml.dump(OrderedDict(sorted(params.items()))))

    write_config({**entry, "n_timesteps": 123})  # the budget is the sweep's, not a setting
    assert benchmark.changed_settings(run, tmp_path) == []
    trained_with = {key: value for key, value in entry.items() if key != "policy"}  # a setting added to the entry since
    write_config({**trained_with, "dropped_setting": 0.5, "n_envs": 99})
    assert benchmark.changed_settings(run, tmp_path) == [
        "dropped_setting: 0.5 -> (unset)",
        f"n_envs: 99 -> {entry['n_envs']}",
        f"policy: (unset) -> {entry['policy']}",
    ]
    main(["run", "--algos", "rcpa", "--envs", run.env, "--seeds", "0", "-n", "1000", "-f", str(tmp_path), "--dry-run"])
    out = capsys.readouterr().out
    assert "1 done" in out and "was trained with other settings" in out and "dropped_setting: 0.5 -> (unset)" in out
    # A sweep with --params compares against the entry with those overrides
    write_config({**entry, "gamma": 0.9})
    assert benchmark.changed_settings(run, tmp_path) == [f"gamma: 0.9 -> {entry['gamma']}"]
    assert benchmark.changed_settings(run, tmp_path, benchmark.parse_hyperparams(["gamma:0.9"])) == []


def test_params_are_read_as_rl_zoo3_reads_them():
    params = benchmark.parse_hyperparams(["gamma:0.99", "closed_loop:False", "policy_kwargs:dict(net_arch=[64])"])
    assert params == {"gamma": 0.99, "closed_loop": False, "policy_kwargs": {"net_arch": [64]}}
    with pytest.raises(ValueError, match="KEY:VALUE"):
        benchmark.parse_hyperparams(["gamma=0.99"])
    with pytest.raises(ValueError, match="not a Python expression"):
        benchmark.parse_hyperparams(["gamma:zero"])
    command = benchmark.train_command(Run("rcpr", "CartPole-v1", 0, 100), Path("logs"), 50, 2, 1, ["gamma:0.9"])
    assert command[-2:] == ["--hyperparams", "gamma:0.9"]


def test_runs_at_once_share_the_cores(tmp_path, monkeypatch):
    # Each of the runs at once gets its share of the cores as torch threads: two runs with every core each spin on the
    # same cores (two runs on 2 cores measured 10.8x slower)
    commands = []
    monkeypatch.setattr(benchmark.sweep, "train_in_folder", lambda run, folder, command: commands.append(command) or "done")
    monkeypatch.setattr(benchmark.sweep.os, "cpu_count", lambda: 8)
    runs = [Run("rcpr", "CartPole-v1", seed, 100) for seed in (0, 1)]
    for jobs, threads in ((2, "4"), (3, "2"), (16, "1")):
        commands.clear()
        assert set(benchmark.run_sweep(runs, tmp_path, jobs=jobs).values()) == {"done"}
        assert [command[command.index("--num-threads") + 1] for command in commands] == [threads, threads]
    # Two sweeps at once on one machine: each says its share
    commands.clear()
    assert set(benchmark.run_sweep(runs, tmp_path, jobs=1, threads=3).values()) == {"done"}
    assert [command[command.index("--num-threads") + 1] for command in commands] == ["3", "3"]
    with pytest.raises(ValueError, match="threads must be at least 1"):
        benchmark.run_sweep(runs, tmp_path, jobs=1, threads=0)


def test_report_median_is_the_median_over_seeds():
    # rliable's aggregate_median would give the mean (70) for one env; the IQM of 5 seeds averages the middle three
    stats = _interval(np.array([10.0, 20.0, 30.0, 90.0, 200.0]), reps=50, seed=0)
    assert stats["median"][0] == 30.0
    assert stats["iqm"][0] == pytest.approx(np.mean([20.0, 30.0, 90.0]))
    assert stats["median"][1] <= 30.0 <= stats["median"][2]
    # The same intervals on every call (rliable resamples with numpy's global generator), which is left as it was
    np.random.seed(1)
    expected_next = np.random.rand()
    np.random.seed(1)
    assert _interval(np.array([10.0, 20.0, 30.0, 90.0, 200.0]), reps=50, seed=0) == stats
    assert np.random.rand() == expected_next


@pytest.mark.slow
@pytest.mark.zoo
def test_sweep_trains_both_eval_modes_resumes_and_reports(tmp_path):
    log_folder = tmp_path / "logs"
    runs = [Run("udrl", "CartPole-v1", 0, 600), Run("ppo", "CartPole-v1", 0, 600)]
    outcomes = benchmark.run_sweep(
        runs, log_folder, eval_freq=300, eval_episodes=2, jobs=2, eval_envs=2, hyperparams=["learning_rate:0.0007"]
    )
    assert set(outcomes.values()) == {"done"}, outcomes
    for run in runs:
        folder = run.folder(log_folder)
        marker = json.loads((folder / "benchmark.json").read_text())
        assert marker["n_timesteps_done"] >= 600 and marker["wall_seconds"] > 0
        greedy, sampled = np.load(folder / "evaluations.npz"), np.load(folder / "sampled" / "evaluations.npz")
        assert len(greedy["timesteps"]) >= 2 and list(greedy["timesteps"]) == list(sampled["timesteps"])
        assert greedy["results"].shape[1] == sampled["results"].shape[1] == 2  # the episodes, over two eval envs
        assert "--n-eval-envs 2" in marker["command"] and marker["hyperparams"] == ["learning_rate:0.0007"]
        assert marker["version"] == sb3_udrl.__version__ and {"commit", "dirty"} <= set(marker)
        assert np.all(np.diff(sampled["wall_seconds"]) > 0)
        assert (folder / f"{run.env}.zip").is_file()  # rl-zoo3's layout: enjoy / record_video read it
        assert benchmark.changed_settings(run, log_folder, {"learning_rate": 0.0007}) == []  # trained with --params

    # Finished runs are not redone; an interrupted one (no benchmark.json) is started again from scratch
    udrl_folder = runs[0].folder(log_folder)
    (runs[1].folder(log_folder) / "benchmark.json").unlink()
    (runs[1].folder(log_folder) / "stale").write_text("")
    udrl_mtime = (udrl_folder / "evaluations.npz").stat().st_mtime
    outcomes = benchmark.run_sweep(runs, log_folder, eval_freq=300, eval_episodes=2, jobs=1)
    assert outcomes == {runs[0]: "done before", runs[1]: "done"}
    assert (udrl_folder / "evaluations.npz").stat().st_mtime == udrl_mtime
    assert not (runs[1].folder(log_folder) / "stale").exists()

    # The report's numbers are those of the evaluation files; a run trained with --params is labelled with them (PPO's
    # run was trained again without)
    output = tmp_path / "results" / "sweep"
    table = benchmark.report(log_folder, output, reps=100)
    rows = {(row["algo"], row["mode"]): row for row in csv_rows(output.with_suffix(".csv"))}
    labels = {"udrl": "udrl (learning_rate:0.0007)", "ppo": "ppo"}
    for run in runs:
        for mode, file_name in (("greedy", "evaluations.npz"), ("sampled", "sampled/evaluations.npz")):
            final = np.load(run.folder(log_folder) / file_name)["results"][-1].mean()
            assert float(rows[(labels[run.algo], mode)]["final_median"]) == pytest.approx(final)
            line = next(line for line in table.splitlines() if f"| {labels[run.algo]} | {mode} |" in line)
            assert f"| {final:.0f} |" in line  # every seed's final return is in the table (one seed per algorithm here)
    assert "| CartPole-v1 | ppo | greedy |" in table
    assert (output.parent / "sweep_CartPole-v1.png").stat().st_size > 0


def csv_rows(path):
    import csv

    with open(path) as file:
        return list(csv.DictReader(file))


def test_report_without_finished_runs_says_so(tmp_path):
    with pytest.raises(ValueError, match="No finished run"):
        benchmark.report(tmp_path, tmp_path / "sweep")


def test_report_compares_at_equal_steps(tmp_path):
    """``at`` columns: each run's last evaluation at or before the step; "-" unless every run got that far."""

    def run(algo, seed, n_timesteps, returns):
        steps = np.arange(1, len(returns) + 1) * 500_000
        returns = np.asarray(returns, dtype=float)
        return benchmark.RunResult(algo, "E-v0", seed, n_timesteps, 60.0, steps, returns, returns - 10, steps / 1e4)

    results = [
        run("a", 0, 3_000_000, [0, 100, 150, 200, 250, 300]),
        run("a", 1, 3_000_000, [0, 50, 120, 130, 140, 150]),
        run("a", 2, 3_000_000, [0, 80, 90, 100, 110, 120]),
        run("b", 0, 1_000_000, [10, 20]),
    ]
    rows = {(row["algo"], row["mode"]): row for row in benchmark.summarize(results, reps=50, at=(1_200_000, 3_000_000))}
    assert rows[("a", "greedy")]["median_at_1200000"] == 80  # the 1M evaluations: 100, 50, 80
    assert rows[("a", "sampled")]["median_at_1200000"] == 70
    assert rows[("a", "greedy")]["median_at_3000000"] == rows[("a", "greedy")]["final_median"] == 150
    assert np.isnan(rows[("b", "greedy")]["median_at_1200000"])  # a 1M run has no 1.2M evaluation
    table = benchmark.markdown_table(list(rows.values()))
    assert "| median at 1.2M | median at 3M |" in table
    assert "| a | greedy | 0 1 2 | 3.00M | 80 | 150 | 150 [" in table
    assert "| b | greedy | 0 | 1.00M | - | - | 20 [" in table
    with pytest.raises(ValueError, match="--at"):
        benchmark.report(tmp_path, tmp_path / "sweep", at=(0,))


def test_speed_sweep_times_each_algorithm(tmp_path):
    """Whole runs of ours and a baseline, one after the other, against random stepping of each one's VecEnv."""
    output = tmp_path / "results" / "speed"
    main(["speed", "--algos", "udrl", "ppo", "--env", "CartPole-v1", "-n", "2000", "-o", str(output)])
    result = json.loads((tmp_path / "results" / "speed_CartPole-v1.json").read_text())
    rows = {row["algo"]: row for row in result["rows"]}
    assert set(rows) == {"udrl", "ppo"} and "cores" in result["machine"]
    assert rows["ppo"]["n_envs"] == 8 and rows["udrl"]["n_envs"] == 1  # each algorithm's own entry and VecEnv
    for row in rows.values():
        assert row["n_timesteps"] >= 2000 and 0 < row["run_seconds"] <= row["process_seconds"]
        assert row["time_ratio_to_random_stepping"] == pytest.approx(row["run_seconds"] / row["random_stepping_seconds"])
    table = (tmp_path / "results" / "speed_CartPole-v1.md").read_text()
    assert "| udrl | CartPole-v1 | 1 |" in table and "| ppo | CartPole-v1 | 8 |" in table
    with pytest.raises(ValueError, match="no dqn settings"):
        benchmark.speed_sweep(["dqn"], "LunarLanderContinuous-v3", 1000, tmp_path)


def _finished_run(log_folder, algo, env, seed, config, commit=None, **recorded):
    """A run folder as the runner leaves it, with rl-zoo3's config.yml (``recorded``: more of benchmark.json)."""
    folder = Run(algo, env, seed, 1000).folder(log_folder)
    (folder / "sampled").mkdir(parents=True)
    (folder / env).mkdir()
    marker = dict(algo=algo, env=env, seed=seed, n_timesteps_done=1000, wall_seconds=1.0, commit=commit, dirty=False)
    marker.update(recorded)
    marker["eval_modes"] = {"evaluations.npz": "greedy", "sampled/evaluations.npz": "sampled"}
    (folder / "benchmark.json").write_text(json.dumps(marker))
    for name in ("evaluations.npz", "sampled/evaluations.npz"):
        np.savez(folder / name, timesteps=np.array([500, 1000]), results=np.full((2, 3), float(seed)))
    with open(folder / env / "config.yml", "w") as file:
        yaml.dump(config, file)


def test_report_names_env_knowledge_and_marks_runs_of_older_code(tmp_path):
    """A run whose hyperparameters name sb3_udrl.envs' helpers is its own row, labelled with them; a run with no
    recorded commit (or one from before the algorithm's code last changed) is marked; baselines are not."""
    helpers = dict(
        mirror="sb3_udrl.envs.lunar_lander.lunar_lander_mirror",
        action_holds={"sb3_udrl.envs.lunar_lander.ground_holds": {"otherwise_prob": 0.008}},
    )
    assert benchmark.env_knowledge(dict(gamma=0.99, **helpers)) == ["ground_holds", "lunar_lander_mirror"]
    assert benchmark.env_knowledge(dict(symmetry="lunar_lander", hold_when=None)) == ["symmetry=lunar_lander"]
    assert benchmark.env_knowledge(dict(env_wrapper=["sb3_udrl.envs.vizdoom.TakeCoverObservation"])) == []
    head = versions._git("rev-parse", "HEAD")
    _finished_run(tmp_path / "main", "udrl", "LunarLander-v3", 0, dict(gamma=1.0), commit=head)
    _finished_run(tmp_path / "knowledge", "udrl", "LunarLander-v3", 1, dict(gamma=1.0, **helpers), commit=None)
    _finished_run(tmp_path / "main", "ppo", "LunarLander-v3", 2, dict(gamma=0.99))
    results = {run.algo: run for run in benchmark.load_results([tmp_path / "main", tmp_path / "knowledge"])}
    assert set(results) == {"udrl", "udrl + ground_holds + lunar_lander_mirror", "ppo"}
    assert results["udrl + ground_holds + lunar_lander_mirror"].current is False  # no commit recorded
    assert results["ppo"].current is True
    assert benchmark.is_current("udrl", "0" * 40) is False  # not a commit of this history
    if head is not None:  # a git checkout: today's commit ran today's code (when it was not modified)
        assert results["udrl"].current is benchmark.is_current("udrl", head) is True
    rows = {(row["algo"], row["mode"]): row for row in benchmark.summarize(list(results.values()), reps=20)}
    assert rows[("udrl + ground_holds + lunar_lander_mirror", "greedy")]["code"] == "1/1 predate code changes"
    assert rows[("ppo", "greedy")]["code"] == "current"
    table = benchmark.report([tmp_path / "main", tmp_path / "knowledge"], tmp_path / "sweep", reps=20)
    assert "| LunarLander-v3 | udrl + ground_holds + lunar_lander_mirror | greedy | 1 |" in table
    assert "PPO, DQN, A2C and SAC included, had none" in (tmp_path / "sweep.md").read_text()


def test_report_keeps_runs_with_overridden_settings_apart(tmp_path):
    """Runs trained with --params are their own row, named with the overrides, also from a benchmark.json that only
    recorded its command (a value with spaces included); runs of the entry as it is keep the algorithm's name."""
    command = "python -m sb3_udrl.train --algo rcpa --env Acrobot-v1 --seed {} -n 1000 --hyperparams {} --num-threads 1"
    for seed in (0, 1):
        _finished_run(tmp_path, "rcpa", "Acrobot-v1", seed, {}, command=command.format(seed, ""))
    _finished_run(tmp_path, "rcpa", "Acrobot-v1", 2, {}, hyperparams=["target_sampling:'step'"])
    kwargs = "policy_kwargs:dict(net_arch=[64, 64]) gamma:0.999"
    _finished_run(tmp_path, "rcpa", "Acrobot-v1", 3, {}, command=command.format(3, kwargs))
    labels = {run.seed: run.algo for run in benchmark.load_results(tmp_path)}
    assert labels == {
        0: "rcpa",
        1: "rcpa",
        2: "rcpa (target_sampling:'step')",
        3: "rcpa (policy_kwargs:dict(net_arch=[64, 64]) gamma:0.999)",
    }
    assert benchmark.hyperparams_overrides(["--algo", "rcpa", "--hyperparams", "gamma:0.9", "--seed", "0"]) == ["gamma:0.9"]
    table = benchmark.report(tmp_path, tmp_path / "sweep", reps=20)
    assert "| Acrobot-v1 | rcpa (target_sampling:'step') | greedy | 2 |" in table
    assert "| Acrobot-v1 | rcpa | greedy | 0 1 |" in table


def test_conf_files_per_algorithm_and_gym_packages_reach_the_runs(tmp_path):
    conf = benchmark.parse_conf_files(["hyperparams/udrl_lunar_lander.yml", "ppo=hyperparams/vizdoom_baselines/ppo.yml"])
    assert conf == {"*": Path("hyperparams/udrl_lunar_lander.yml"), "ppo": Path("hyperparams/vizdoom_baselines/ppo.yml")}
    runs, skipped = benchmark.plan(["ppo", "dqn"], ["VizdoomTakeCover-v1"], [0], 1000, conf=conf)
    assert runs == [Run("ppo", "VizdoomTakeCover-v1", 0, 1000)] and skipped[0].startswith("dqn on VizdoomTakeCover-v1")
    command = benchmark.train_command(runs[0], tmp_path, 500, 2, conf=conf, gym_packages=["vizdoom.gymnasium_wrapper"])
    assert command[command.index("--conf-file") + 1] == "hyperparams/vizdoom_baselines/ppo.yml"
    assert command[command.index("--gym-packages") + 1] == "vizdoom.gymnasium_wrapper"
    # sb3_udrl's algorithms take the unnamed file, a baseline without a file of its own rl-zoo3's
    assert benchmark.conf_file("udrl", "LunarLander-v3", tmp_path, conf).name == "udrl_lunar_lander.yml"
    assert benchmark.conf_file("a2c", "CartPole-v1", tmp_path, conf).parent.parent.name == "rl_zoo3"
    with pytest.raises(ValueError, match=r"no file nope\.yml"):
        benchmark.parse_conf_files(["ppo=nope.yml"])
    with pytest.raises(ValueError, match="two files for ppo"):
        benchmark.parse_conf_files(["ppo=hyperparams/rcpa.yml", "ppo=hyperparams/udrl.yml"])
