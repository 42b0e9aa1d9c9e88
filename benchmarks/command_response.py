"""What the replay holds and how a trained UDRL agent answers different commands.

    python -m benchmarks.command_response --env LunarLander-v3 --seed 0 --n-timesteps 1000000 --name kept \\
        --params store_truncated:True

Trains one agent with the hyperparameters of hyperparams/udrl.yml (overridable with --params key:value), then writes
benchmarks/results/command_response_{env}_{name}.json:
- the replay's composition: episodes per return band, the share cut by the time limit and their mean length;
- the returns of the agent's last training episodes and the exploratory command it ended with;
- closed-loop evaluations (sampled actions, --n-eval-episodes each) under a grid of commands
  (desired return, desired horizon): whether the behaviour function follows the command at all.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch as th

from benchmarks.udrl_benchmark import load_hyperparams, make_env, split_env_settings
from sb3_udrl import UDRL

RESULTS = Path(__file__).resolve().parent / "results"


def replay_composition(model: UDRL, bands: list[float]) -> list[dict[str, float]]:
    buffer = model.replay_buffer
    assert buffer is not None
    n = buffer.n_episodes
    returns, lengths, truncated = buffer.ep_return[:n], buffer.ep_length[:n], buffer.ep_truncated[:n]
    rows = []
    for low, high in itertools.pairwise(bands):
        inside = (returns >= low) & (returns < high)
        rows.append(
            dict(
                low=low,
                high=high,
                episodes=int(inside.sum()),
                truncated_share=float(truncated[inside].mean()) if inside.any() else float("nan"),
                mean_length=float(lengths[inside].mean()) if inside.any() else float("nan"),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-timesteps", type=int, default=1_000_000)
    parser.add_argument("--n-eval-episodes", type=int, default=20)
    parser.add_argument("--params", nargs="*", default=[], help="hyperparameter overrides key:value")
    parser.add_argument("--name", default="default", help="suffix of the result file")
    parser.add_argument(
        "--commands",
        nargs="*",
        default=["M,H", "M,300", "150,300", "100,200", "250,250", "200,1000", "0,100"],
        help="desired_return,desired_horizon pairs; M and H: the agent's own evaluation command",
    )
    args = parser.parse_args()
    th.set_num_threads(1)

    params = load_hyperparams(args.env, args.params)
    n_envs, _, wrapper_class = split_env_settings(params)
    env = make_env(args.env, n_envs, args.seed, wrapper_class)
    model = UDRL(env=env, seed=args.seed, **params)
    model.learn(args.n_timesteps, log_interval=None)

    eval_env = make_env(args.env, 10, args.seed + 20_000, wrapper_class)
    own_return, own_horizon = (float(c) for c in model.policy.eval_command)
    responses = []
    for pair in args.commands:
        text_return, text_horizon = pair.split(",")
        desired_return = own_return if text_return == "M" else float(text_return)
        desired_horizon = own_horizon if text_horizon == "H" else float(text_horizon)
        model.policy.eval_command.copy_(th.tensor([desired_return, desired_horizon]))
        returns, lengths = model.evaluate(eval_env, args.n_eval_episodes, deterministic=False)
        responses.append(
            dict(
                desired_return=desired_return,
                desired_horizon=desired_horizon,
                mean_return=float(np.mean(returns)),
                std_return=float(np.std(returns)),
                mean_length=float(np.mean(lengths)),
            )
        )
        print(responses[-1], flush=True)
    model.policy.eval_command.copy_(th.tensor([own_return, own_horizon]))

    result = dict(
        env=args.env,
        seed=args.seed,
        n_timesteps=model.num_timesteps,
        params={k: str(v) for k, v in params.items()},
        command=" ".join(["python -m benchmarks.command_response", *sys.argv[1:]]),
        last_training_episodes=dict(
            mean_return=float(np.mean([info["r"] for info in model.ep_info_buffer])),
            mean_length=float(np.mean([info["l"] for info in model.ep_info_buffer])),
        ),
        exploratory_command=dict(
            return_mean=model.exploratory_return_mean,
            return_std=model.exploratory_return_std,
            horizon=model.exploratory_horizon,
            return_cap=model.exploratory_return_cap,
        ),
        replay=replay_composition(model, [-np.inf, 0.0, 100.0, 200.0, 250.0, np.inf]),
        command_responses=responses,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"command_response_{args.env}_{args.name}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "params"}, indent=1))


if __name__ == "__main__":
    main()
