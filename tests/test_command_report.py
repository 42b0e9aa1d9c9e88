"""The command-following report (sb3_udrl.command_report) over the three algorithms."""

import json

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from sb3_udrl import UDRL, RewardFeedback
from sb3_udrl.command_report import command_report, main, make_report_env
from tests.conftest import MODEL_LIST, TINY_KWARGS

IDS = [model_class.__name__ for model_class in MODEL_LIST]


@pytest.mark.parametrize("model_class", MODEL_LIST, ids=IDS)
def test_report_asks_each_command_and_restores_the_agents_own(model_class):
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardFeedback)
    model = model_class("MlpPolicy", env, seed=0, **TINY_KWARGS[model_class]).learn(600)
    own = model.policy.eval_command.clone()
    dim = model.policy.condition.dim
    commands = np.array([[10.0, 20.0], [50.0, 50.0]])[:, :dim]
    rows = command_report(model, make_report_env(model, "CartPole-v1", 2, seed=1), commands, n_episodes=3)
    assert [[row[name] for name in model.policy.condition.names] for row in rows] == commands.tolist()
    for row in rows:
        assert row["n_episodes"] == 3 and row["mean_length"] > 0
        shares = [row[f"{outcome}_share"] for outcome in ("landed_or_positive", "crashed_or_negative", "truncated")]
        assert sum(shares) == pytest.approx(1.0)
    assert model.policy.eval_command.equal(own)
    with pytest.raises(ValueError, match="components"):
        command_report(model, make_report_env(model, "CartPole-v1", 1, seed=1), np.zeros((2, dim + 1)))


def test_cli_writes_table_json_and_plot(tmp_path):
    """UDRL over a grid of returns and two horizons, from a saved model."""
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=RewardFeedback)
    model = UDRL("MlpPolicy", env, seed=0, **TINY_KWARGS[UDRL]).learn(600)
    model.save(tmp_path / "agent")
    model.save_replay_buffer(tmp_path / "replay.pkl")
    output = tmp_path / "report"
    model_args = ["--algo", "udrl", "--env", "CartPole-v1", "--model", str(tmp_path / "agent.zip")]
    model_args += ["--replay", str(tmp_path / "replay.pkl"), "--bands", "20", "50"]
    grid_args = ["--returns", "20", "60", "--horizons", "H", "30", "--n-episodes", "2", "--n-envs", "2"]
    main([*model_args, *grid_args, "-o", str(output)])
    result = json.loads(output.with_suffix(".json").read_text())
    horizon = float(model.policy.eval_command[1])
    grid = [value for row in result["rows"] for value in (row["desired_return"], row["desired_horizon"])]
    assert grid == pytest.approx([20, horizon, 20, 30, 60, horizon, 60, 30])
    assert "| desired return | desired horizon |" in output.with_suffix(".md").read_text()
    # the replay's episodes per return band: below 20, 20-50, above 50
    assert [band["low"] for band in result["replay"]] == [-np.inf, 20, 50]
    assert sum(band["episodes"] for band in result["replay"]) == model.replay_buffer.n_episodes
    assert output.with_suffix(".png").stat().st_size > 0
