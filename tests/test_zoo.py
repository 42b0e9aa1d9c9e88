"""rl-zoo3 integration: the scripts run as subprocesses (like rl-zoo3's own tests) on tiny budgets."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from sb3_udrl.zoo import (  # noqa: E402
    ZOO_ALGOS,
    default_config,
    import_gym_packages,
    with_default_conf,
    with_render_mode,
)
from sb3_udrl.zoo.hyperparams_opt import (  # noqa: E402
    HYPERPARAMS_CONVERTER,
    HYPERPARAMS_SAMPLER,
    NET_ARCHS,
    convert_udrl_params,
    sample_udrl_params,
)

# rl-zoo3 only runs in subprocesses: importing it here would patch gymnasium for the other tests
pytestmark = [pytest.mark.zoo, pytest.mark.skipif(find_spec("rl_zoo3") is None, reason="needs the zoo extra (rl-zoo3)")]

PYTHON = sys.executable
# Tiny UDRL budget: a few short iterations
TINY_UDRL = ["n_warm_up_episodes:2", "batch_size:32", "n_updates_per_iter:5", "n_episodes_per_iter:2"]
TINY_RCP = {"rcpr": [*TINY_UDRL, "buffer_size:2000"], "rcpa": [*TINY_UDRL, "buffer_size:2000", "n_value_updates_per_iter:5"]}
# One torch thread (small networks, shared cores), headless rendering and plots
# Seconds a script may take (generous: the machine may be shared)
TIMEOUT = 600
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SDL_VIDEODRIVER": "dummy", "MPLBACKEND": "Agg"}


def run(*args: str) -> str:
    """Run ``python *args``, fail with its output if it fails, return its output."""
    result = subprocess.run([PYTHON, *args], capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"python {' '.join(args)} failed:\n{output[-5000:]}"
    return output


def train_udrl(log_folder: Path, *args: str, env_id: str = "CartPole-v1", n_timesteps: int = 1000) -> str:
    return run(
        "-m", "sb3_udrl.train", "--algo", "udrl", "--env", env_id, "-f", str(log_folder), "-n", str(n_timesteps),
        "--seed", "0", "--eval-episodes", "2", *args, "-params", *TINY_UDRL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UDRL run on CartPole with evaluations, checkpoints and the replay saved: ``logs/udrl/CartPole-v1_1``."""
    log_folder = tmp_path_factory.mktemp("zoo") / "logs"
    output = train_udrl(log_folder, "--eval-freq", "500", "--save-freq", "500", "--save-replay-buffer")
    assert "Saving replay buffer" in output
    return log_folder


# ------------------------------------------------------------------------------------------------------------------
# Registration and configuration
def test_import_does_not_import_rl_zoo3() -> None:
    run("-c", "import sb3_udrl, sb3_udrl.zoo, sys; assert 'rl_zoo3' not in sys.modules, 'rl_zoo3 was imported'")


def test_register_is_idempotent() -> None:
    code = """
import pytest
from rl_zoo3 import ALGOS, hyperparams_opt, train
from stable_baselines3 import PPO
from sb3_udrl import UDRL
from sb3_udrl.zoo import register
from sb3_udrl.zoo.hyperparams_opt import convert_udrl_params, sample_udrl_params

n_algos = len(ALGOS)
register()
register()
assert ALGOS["udrl"] is UDRL and len(ALGOS) == n_algos + 3
assert train.ALGOS is ALGOS  # modified in place: every rl-zoo3 module sees it
assert hyperparams_opt.HYPERPARAMS_SAMPLER["udrl"] is sample_udrl_params
assert hyperparams_opt.HYPERPARAMS_CONVERTER["udrl"] is convert_udrl_params
ALGOS["udrl"] = PPO
with pytest.raises(ValueError, match="overwrite=True"):
    register()
register(overwrite=True)
assert ALGOS["udrl"] is UDRL
"""
    run("-c", code)


def test_default_config() -> None:
    assert set(ZOO_ALGOS) == {"udrl", "rcpr", "rcpa"}
    for algo in ZOO_ALGOS:
        assert Path(default_config(algo)).name == f"{algo}.yml"
    path = Path(default_config("udrl"))
    assert path.name == "udrl.yml" and path.is_file()
    with pytest.raises(ValueError, match="udrl"):
        default_config("ppo")
    assert with_default_conf(["train", "--algo", "udrl"]) == ["train", "--algo", "udrl", "--conf-file", str(path)]
    for argv in (
        ["train", "--algo", "udrl", "-conf", "my.yml"],
        ["train", "--algo=udrl", "--conf-file", "my.yml"],
        ["train", "--algo", "ppo"],
        ["train"],
    ):
        assert with_default_conf(argv) == argv


def test_unknown_algo_is_reported() -> None:
    result = subprocess.run(
        [PYTHON, "-m", "sb3_udrl.train", "--algo", "not_an_algo"], capture_output=True, text=True, env=ENV, timeout=TIMEOUT
    )
    assert result.returncode != 0
    assert "invalid choice: 'not_an_algo'" in result.stderr and "'udrl'" in result.stderr


def test_zoo_cli() -> None:
    # The console script when installed next to this Python, else its module
    script = Path(sys.executable).parent / "sb3_udrl_zoo"
    command = [str(script)] if script.is_file() else [PYTHON, "-m", "sb3_udrl.zoo.cli"]
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert result.returncode == 0 and "record_video" in result.stdout
    result = subprocess.run([*command, "not_a_script"], capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert result.returncode != 0 and "Unknown script 'not_a_script'" in result.stderr


# ------------------------------------------------------------------------------------------------------------------
# Optuna
def sampled_params(n: int) -> list[dict]:
    """Raw parameters of ``n`` random trials."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    params = []
    for _ in range(n):
        trial = study.ask()
        sample_udrl_params(trial, n_actions=0, n_envs=1, additional_args={})
        params.append(trial.params)
    return params


def test_sampler_round_trip() -> None:
    for params in sampled_params(20):
        expected = convert_udrl_params(params)
        assert sample_udrl_params(optuna.trial.FixedTrial(params), 0, 1, {}) == expected
        assert expected["policy_kwargs"] == dict(net_arch=NET_ARCHS[params["net_arch"]])
        assert 1e-4 <= expected["learning_rate"] <= 1e-2
        assert expected["last_few"] <= expected["replay_size"]
    with pytest.raises(ValueError, match="net_arch"):
        convert_udrl_params({**params, "net_arch": "huge"})


@pytest.mark.parametrize("algo", ["rcpr", "rcpa"])
def test_rcp_sampler_round_trip(algo: str) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        sampled = HYPERPARAMS_SAMPLER[algo](trial, n_actions=0, n_envs=1, additional_args={})
        assert sampled == HYPERPARAMS_CONVERTER[algo](trial.params)
        ZOO_ALGOS[algo]("MlpPolicy", "CartPole-v1", **sampled)  # every sampled combination builds


@pytest.mark.parametrize("algo", ["rcpr", "rcpa"])
def test_rcp_train_enjoy_tune(algo: str, tmp_path: Path) -> None:
    """RCPR / RCPA through rl-zoo3: train with evaluations, checkpoints and the replay, enjoy, tune, and train a trial."""
    logs = tmp_path / "logs"
    common = ["-m", "sb3_udrl.train", "--algo", algo, "--env", "CartPole-v1", "-f", str(logs), "--eval-episodes", "2"]
    output = run(*common, "-n", "1000", "--seed", "0", "--eval-freq", "500", "--save-freq", "500", "--save-replay-buffer",
                 "-params", *TINY_RCP[algo])  # fmt: skip
    assert "Saving replay buffer" in output
    run_folder = logs / algo / "CartPole-v1_1"
    for name in ("CartPole-v1.zip", "best_model.zip", "rl_model_500_steps.zip", "replay_buffer.pkl", "evaluations.npz"):
        assert (run_folder / name).is_file(), name
    output = run("-m", "sb3_udrl.enjoy", "--algo", algo, "--env", "CartPole-v1", "-f", str(logs), "--no-render", "-n", "200")
    assert "Mean reward" in output
    storage = str(tmp_path / "study.log")
    run(*common, "-n", "300", "-optimize", "--n-trials", "2", "--n-evaluations", "1", "--n-startup-trials", "1",
        "--no-optim-plots", "--storage", storage, "--study-name", "demo", "--sampler", "random", "--pruner", "none",
        "-params", "n_warm_up_episodes:2", "n_episodes_per_iter:2")  # fmt: skip
    study = optuna.load_study(storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
                              study_name="demo")  # fmt: skip
    assert len(study.trials) == 2
    output = run(*common, "-n", "300", "--storage", storage, "--study-name", "demo", "--trial-id", "1", "--eval-freq", "-1")
    assert "Loading from Optuna study" in output


def test_pruning_stops_learning() -> None:
    # TrialEvalCallback evaluates every eval_freq calls of on_step() and stops learn() when the trial is pruned
    code = """
import optuna
from rl_zoo3.callbacks import TrialEvalCallback
from stable_baselines3.common.env_util import make_vec_env
from sb3_udrl import UDRL, RewardFeedback

class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True

trial = optuna.create_study(pruner=AlwaysPrune(), direction="maximize").ask()
env = make_vec_env("CartPole-v1", n_envs=2, wrapper_class=RewardFeedback, seed=0)
model = UDRL("MlpPolicy", env, n_warm_up_episodes=2, batch_size=32, n_updates_per_iter=5, n_episodes_per_iter=2, seed=0)
eval_env = make_vec_env("CartPole-v1", wrapper_class=RewardFeedback, seed=1)
callback = TrialEvalCallback(eval_env, trial, n_eval_episodes=2, eval_freq=50)
model.learn(10_000, callback=callback)
assert callback.is_pruned and callback.n_calls == 50 and model.num_timesteps == 100, (callback.n_calls, model.num_timesteps)
"""
    run("-c", code)


def test_distributed_optimization(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.log")
    common = (
        "-m", "sb3_udrl.train", "--algo", "udrl", "--env", "CartPole-v1", "-n", "300", "-f", str(tmp_path / "logs"),
        "-optimize", "--n-trials", "2", "--n-evaluations", "2", "--n-startup-trials", "1", "--eval-episodes", "2",
        "--no-optim-plots", "--storage", storage, "--study-name", "udrl_demo",
    )  # fmt: skip
    # Two workers at the same time on the same journal file
    workers = [
        subprocess.Popen(
            [PYTHON, *common, "--sampler", sampler, "--pruner", pruner, "--seed", str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )
        for seed, (sampler, pruner) in enumerate([("random", "median"), ("tpe", "none")])
    ]
    for worker in workers:
        output, _ = worker.communicate(timeout=TIMEOUT)
        assert worker.returncode == 0, output[-5000:]
    journal = optuna.storages.journal.JournalFileBackend(storage)
    study = optuna.load_study(storage=optuna.storages.JournalStorage(journal), study_name="udrl_demo")
    assert len(study.trials) == 4
    assert all(trial.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for trial in study.trials)

    # Train with the hyperparameters of trial 1, read back from the storage
    output = run(
        "-m", "sb3_udrl.train", "--algo", "udrl", "--env", "CartPole-v1", "-n", "300", "-f", str(tmp_path / "logs"),
        "--storage", storage, "--study-name", "udrl_demo", "--trial-id", "1", "--eval-freq", "-1",
    )  # fmt: skip
    assert "Loading from Optuna study" in output
    expected = convert_udrl_params(study.trials[1].params)
    assert f"('batch_size', {expected['batch_size']})" in output
    assert f"('policy_kwargs', {expected['policy_kwargs']})" in output


# ------------------------------------------------------------------------------------------------------------------
# Train, continue, enjoy, record
def test_train_outputs(trained: Path) -> None:
    run_folder = trained / "udrl" / "CartPole-v1_1"
    for name in ("CartPole-v1.zip", "best_model.zip", "rl_model_500_steps.zip", "replay_buffer.pkl", "evaluations.npz"):
        assert (run_folder / name).is_file(), name
    assert "RewardFeedback" in (run_folder / "CartPole-v1" / "config.yml").read_text()
    assert len(np.load(run_folder / "evaluations.npz")["timesteps"]) == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["p", "--algo", "udrl"], ["p", "--algo", "udrl", "--env-kwargs", "render_mode:None"]),
        (["p", "--env-kwargs", "a:1", "-n", "5"], ["p", "--env-kwargs", "render_mode:None", "a:1", "-n", "5"]),
        (["p", "--env-kwargs", "render_mode:'human'"], ["p", "--env-kwargs", "render_mode:'human'"]),
    ],
)
def test_with_render_mode(argv: list[str], expected: list[str]) -> None:
    assert with_render_mode(argv, None) == expected


def test_gym_packages_are_imported_and_left_out_for_record_video() -> None:
    argv = ["p", "--algo", "udrl", "--gym-packages", "json", "xml.dom", "-n", "5"]
    assert import_gym_packages(argv) == ["p", "--algo", "udrl", "-n", "5"]
    assert import_gym_packages(["p", "--gym-packages", "json"]) == ["p"]
    assert import_gym_packages(["p", "-n", "5"]) == ["p", "-n", "5"]
    with pytest.raises(ModuleNotFoundError, match="not_a_gym_package"):
        import_gym_packages(["p", "--gym-packages", "not_a_gym_package"])


def test_training_makes_envs_without_render_mode_and_enjoy_renders(trained: Path) -> None:
    """Training runs without a render mode (fast); enjoy asks for "human" unless told otherwise (the trained run's
    render_mode None would otherwise come back from its args.yml); record_video works on it (test_record_video)."""
    import yaml

    args = yaml.load((trained / "udrl" / "CartPole-v1_1" / "CartPole-v1" / "args.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert dict(args)["env_kwargs"] == {"render_mode": None}
    code = """
import sys
from rl_zoo3 import enjoy
from sb3_udrl.zoo import cli
enjoy.enjoy = lambda: print(sys.argv[5:])  # what rl-zoo3's enjoy would parse
for extra in ([], ["--no-render"], ["--env-kwargs", "render_mode:'rgb_array'"]):
    sys.argv = ["enjoy", "--algo", "udrl", "--env", "CartPole-v1", *extra]
    cli.enjoy()
"""
    lines = run("-c", code).strip().splitlines()[-3:]
    human, rgb_array = "['--env-kwargs', \"render_mode:'human'\"]", "['--env-kwargs', \"render_mode:'rgb_array'\"]"
    assert lines == [human, "['--no-render']", rgb_array]


def test_continue_training(trained: Path, tmp_path: Path) -> None:
    agent = trained / "udrl" / "CartPole-v1_1" / "CartPole-v1.zip"
    output = train_udrl(tmp_path, "-i", str(agent), "--eval-freq", "-1", n_timesteps=300)
    assert "Loading pretrained agent" in output and "Loading replay buffer" in output
    assert (tmp_path / "udrl" / "CartPole-v1_1" / "CartPole-v1.zip").is_file()


@pytest.mark.parametrize("which", [["--load-best"], ["--load-checkpoint", "500"], []], ids=["best", "checkpoint", "last"])
def test_enjoy(trained: Path, which: list[str]) -> None:
    output = run(
        "-m", "sb3_udrl.enjoy", "--algo", "udrl", "--env", "CartPole-v1", "-f", str(trained), "--no-render", "-n", "200",
        *which,
    )  # fmt: skip
    assert "Mean reward" in output


def test_record_video(trained: Path, tmp_path: Path) -> None:
    pytest.importorskip("moviepy", reason="rl-zoo3's VecVideoRecorder writes mp4 files with moviepy")
    run(
        "-m", "sb3_udrl.record_video", "--algo", "udrl", "--env", "CartPole-v1", "-f", str(trained), "-n", "100",
        "-o", str(tmp_path),
    )  # fmt: skip
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


def test_train_sparse_lunar_lander(tmp_path: Path) -> None:
    output = train_udrl(tmp_path, "--gym-packages", "sb3_udrl", "--eval-freq", "-1", env_id="LunarLanderSparse-v3")
    assert "Saving to" in output
    assert (tmp_path / "udrl" / "LunarLanderSparse-v3_1" / "LunarLanderSparse-v3.zip").is_file()


# ------------------------------------------------------------------------------------------------------------------
# Plots
def test_plots(tmp_path: Path) -> None:
    # Two runs per algorithm (rliable needs several), run concurrently in their own folders (-uuid)
    common = ["-n", "1000", "-f", str(tmp_path), "--eval-freq", "500", "--eval-episodes", "2", "-uuid"]
    commands = [
        *[["-m", "sb3_udrl.train", "--algo", "udrl", *common, "--seed", str(seed), "-params", *TINY_UDRL] for seed in (0, 1)],
        *[["-m", "rl_zoo3.train", "--algo", "ppo", *common, "--seed", str(seed), "-params", "n_steps:256"] for seed in (0, 1)],
    ]
    processes = [
        subprocess.Popen([PYTHON, *command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
        for command in commands
    ]
    for process in processes:
        output, _ = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, output[-5000:]

    run("-m", "sb3_udrl.zoo.cli", "plot_train", "-a", "udrl", "-e", "CartPole-v1", "-f", str(tmp_path))
    results = tmp_path / "results"
    output = run(
        "-m", "rl_zoo3.cli", "all_plots", "-a", "udrl", "ppo", "-e", "CartPole-v1", "-f", str(tmp_path), "--no-display",
        "-o", str(results),
    )  # fmt: skip
    assert "UDRL" in output and "PPO" in output
    assert results.with_suffix(".pkl").is_file()
    pytest.importorskip("rliable")
    figure = tmp_path / "rliable.svg"
    run(
        "-m", "rl_zoo3.cli", "plot_from_file", "-i", str(results.with_suffix(".pkl")), "--rliable", "--iqm", "--versus",
        "-l", "UDRL", "PPO", "-o", str(figure),
    )  # fmt: skip
    assert figure.is_file()
