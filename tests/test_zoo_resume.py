"""Resuming an rl-zoo3 run killed mid-way (kill -9) from its last checkpoint, with the checkpoint's replay."""

from __future__ import annotations

import pickle
import signal
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from sb3_udrl.zoo.experiment import checkpoint_replay_path
from tests.test_zoo import ENV, PYTHON, TINY_UDRL, run

pytestmark = [pytest.mark.zoo, pytest.mark.skipif(find_spec("rl_zoo3") is None, reason="needs the zoo extra (rl-zoo3)")]


def test_checkpoint_replay_path():
    assert checkpoint_replay_path("logs/a/rl_model_500_steps.zip") == "logs/a/rl_model_replay_buffer_500_steps.pkl"
    assert checkpoint_replay_path("logs/a/CartPole-v1.zip") is None


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_with_the_replay(tmp_path: Path) -> None:
    common = ["--algo", "udrl", "--env", "CartPole-v1", "-f", str(tmp_path), "--seed", "0", "--eval-freq", "-1"]
    command = [PYTHON, "-m", "sb3_udrl.train", *common, "-n", "1000000", "--save-freq", "400", "--save-replay-buffer"]
    process = subprocess.Popen(
        [*command, "-params", *TINY_UDRL], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    run_folder = tmp_path / "udrl" / "CartPole-v1_1"
    try:
        deadline = time.monotonic() + 300
        while len(list(run_folder.glob("rl_model_*_steps.zip"))) < 3:  # a few checkpoints, then kill -9
            assert process.poll() is None and time.monotonic() < deadline, "the run ended or made no checkpoints"
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    checkpoints = sorted(run_folder.glob("rl_model_*_steps.zip"), key=lambda path: int(path.stem.split("_")[2]))
    replays = list(run_folder.glob("rl_model_replay_buffer_*_steps.pkl"))
    # only the latest replay is kept; it may belong to the last checkpoint or, if the kill came between the model
    # and the replay of a checkpoint, to the one before
    assert len(replays) in (1, 2)
    checkpoint = next(path for path in reversed(checkpoints) if Path(checkpoint_replay_path(str(path))).exists())
    with open(checkpoint_replay_path(str(checkpoint)), "rb") as file:
        saved_episodes = pickle.load(file).n_episodes
    assert saved_episodes > 0

    output = run(
        "-m", "sb3_udrl.train", *common, "-n", "200", "-i", str(checkpoint), "--save-replay-buffer",
        "-params", *TINY_UDRL,
    )  # fmt: skip
    assert f"Loading the replay buffer of the checkpoint: {checkpoint_replay_path(str(checkpoint))}" in output
    # The resumed run went on from the checkpoint's replay (no new random warm-up): its replay holds those episodes
    with open(tmp_path / "udrl" / "CartPole-v1_2" / "replay_buffer.pkl", "rb") as file:
        resumed = pickle.load(file)
    assert resumed.n_episodes >= saved_episodes
