"""Trainings started together into the same log folder each get their own run folder (an atomic claim of the id)."""

from __future__ import annotations

import os
import subprocess
import threading
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.test_zoo import ENV, PYTHON, TIMEOUT, TINY_UDRL

pytestmark = [pytest.mark.zoo, pytest.mark.skipif(find_spec("rl_zoo3") is None, reason="needs the zoo extra (rl-zoo3)")]

# ``python -m sb3_udrl.train`` whose first listing of the log folder (rl-zoo3's get_latest_run_id, which picks the
# provisional id) waits until every process has listed it: all of them see the same latest id, the worst case of
# trainings started together, whatever the start-up times.
BARRIER_TRAIN = """
import os, runpy, sys, time
import rl_zoo3.utils

barrier, n_processes = sys.argv.pop(1), int(sys.argv.pop(1))
listing = rl_zoo3.utils.get_latest_run_id

def get_latest_run_id(*args, **kwargs):
    latest = listing(*args, **kwargs)
    if not os.path.exists(os.path.join(barrier, str(os.getpid()))):
        open(os.path.join(barrier, str(os.getpid())), "w").close()
        deadline = time.monotonic() + 120
        while len(os.listdir(barrier)) < n_processes and time.monotonic() < deadline:
            time.sleep(0.05)
    return latest

rl_zoo3.utils.get_latest_run_id = get_latest_run_id
sys.argv[0] = "sb3_udrl.train"
runpy.run_module("sb3_udrl.train", run_name="__main__", alter_sys=True)
"""


def test_claim_run_folder_gives_each_racer_its_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sb3_udrl.zoo import experiment

    log_path = str(tmp_path / "udrl") + "/"
    (tmp_path / "udrl" / "CartPole-v1_2").mkdir(parents=True)  # an earlier run: the next ids are 3, 4, ...
    (tmp_path / "udrl" / "CartPole-v1_2_abc").mkdir()  # a run with --uuid: not a numbered folder
    n_threads = 4
    barrier = threading.Barrier(n_threads)
    listing = experiment.get_latest_run_id

    def get_latest_run_id(*args):  # every thread lists the folder before any claims: all pick id 3 first
        latest = listing(*args)
        barrier.wait(timeout=30)
        return latest

    monkeypatch.setattr(experiment, "get_latest_run_id", get_latest_run_id)
    claimed: list[str] = []
    threads = [
        threading.Thread(target=lambda: claimed.append(experiment.claim_run_folder(log_path, "CartPole-v1")))
        for _ in range(n_threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(Path(path).name for path in claimed) == [f"CartPole-v1_{i}" for i in range(3, 3 + n_threads)]
    assert all(Path(path).is_dir() for path in claimed)

    monkeypatch.setattr(experiment, "get_latest_run_id", listing)
    assert Path(experiment.claim_run_folder(log_path, "CartPole-v1", "_xyz")).name == "CartPole-v1_7_xyz"
    # A missing log folder is created
    assert Path(experiment.claim_run_folder(str(tmp_path / "new" / "dqn"), "CartPole-v1")).name == "CartPole-v1_1"


def test_manager_claims_its_folder_unless_a_subclass_sets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rl_zoo3.exp_manager import ExperimentManager

    from sb3_udrl.zoo.experiment import ResumableExperimentManager

    def folders_of_rl_zoo3_init(self, *args, uuid_str: str = "", **kwargs):  # what rl-zoo3's __init__ sets of them
        self.log_path, self.env_name = f"{tmp_path}/udrl/", "CartPole-v1"
        self.save_path = os.path.join(self.log_path, f"CartPole-v1_1{uuid_str}")  # the listing found no run
        self.params_path = f"{self.save_path}/{self.env_name}"

    monkeypatch.setattr(ExperimentManager, "__init__", folders_of_rl_zoo3_init)
    manager = ResumableExperimentManager()
    (tmp_path / "udrl" / "CartPole-v1_1").mkdir(parents=True)  # another run claimed id 1 since the listing
    manager.create_log_folder()
    assert manager.save_path == f"{tmp_path}/udrl/CartPole-v1_2"
    assert Path(manager.params_path) == tmp_path / "udrl" / "CartPole-v1_2" / "CartPole-v1"
    assert Path(manager.params_path).is_dir()
    with_uuid = ResumableExperimentManager(uuid_str="_abc")
    with_uuid.create_log_folder()
    assert with_uuid.save_path == f"{tmp_path}/udrl/CartPole-v1_3_abc"

    class FixedFolderManager(ResumableExperimentManager):  # as sb3_udrl.benchmark's manager
        def __init__(self) -> None:
            super().__init__()
            self.save_path = os.path.join(self.log_path, "CartPole-v1_1")
            self.params_path = f"{self.save_path}/{self.env_name}"

    fixed = FixedFolderManager()
    fixed.create_log_folder()
    assert fixed.save_path == f"{tmp_path}/udrl/CartPole-v1_1"  # its own folder, even if it exists
    assert sorted(path.name for path in (tmp_path / "udrl").iterdir()) == [
        "CartPole-v1_1",
        "CartPole-v1_2",
        "CartPole-v1_3_abc",
    ]


def test_trainings_started_together_get_their_own_folders(tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    log_folder = tmp_path / "logs"
    train = [PYTHON, "-c", BARRIER_TRAIN, str(barrier), "2", "--algo", "udrl", "--env", "CartPole-v1"]
    options = ["-f", str(log_folder), "-n", "100", "--eval-freq", "-1"]
    processes = [
        subprocess.Popen(
            [*train, *options, "--seed", str(seed), "-params", *TINY_UDRL],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )
        for seed in (0, 1)
    ]
    outputs = [process.communicate(timeout=TIMEOUT)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"a training failed:\n{output[-5000:]}"
    assert len(list(barrier.iterdir())) == 2  # both went through the barrier: they listed the folder together

    runs = log_folder / "udrl"
    assert sorted(path.name for path in runs.iterdir()) == ["CartPole-v1_1", "CartPole-v1_2"]
    seeds = []
    for run_folder in sorted(runs.iterdir()):
        assert (run_folder / "CartPole-v1.zip").is_file()
        command = (run_folder / "CartPole-v1" / "command.txt").read_text()
        seeds += [seed for seed in (0, 1) if f"--seed {seed} " in command]
        assert any(f"Saving to {run_folder}\n" in output for output in outputs)
    assert sorted(seeds) == [0, 1]  # each folder holds the files of its own run
