"""Every example runs end to end on a tiny budget."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    "script, args",
    [
        ("first_run.py", ["--timesteps", "3000", "--n-envs", "2", "--eval-episodes", "1"]),
        ("save_load_continue.py", ["--timesteps", "1500"]),
        ("custom_env.py", ["--timesteps", "1500"]),
        ("tensorboard_logging.py", ["--timesteps", "1500"]),
    ],
)
def test_example_runs(script, args, tmp_path):
    if script == "tensorboard_logging.py":
        args = [*args, "--logdir", str(tmp_path)]
    if script == "first_run.py":
        args = [*args, "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mean return" in result.stdout or "last evaluation" in result.stdout
    if script == "first_run.py":
        # what the first run promises to leave behind, at the paths it prints
        run = tmp_path / "rcpa_LunarLander-v3_0"
        for name in ("model.zip", "learning_curve.png", "episode.gif", "summary.json"):
            assert (run / name).stat().st_size > 0 and str(run / name) in result.stdout, name
