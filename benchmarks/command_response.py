"""What the replay holds and how a trained UDRL agent answers different commands.

    python -m benchmarks.command_response --env LunarLander-v3 --seed 0 --n-timesteps 1000000 --name kept \\
        --params store_truncated:True

Trains one agent with the hyperparameters of hyperparams/udrl.yml (overridable with --params key:value), then writes
benchmarks/results/command_response_{env}_{name}.json:
- the replay's composition: episodes per return band, the share cut by the time limit and their mean length;
- the returns of the agent's last training episodes and the exploratory command it ended with;
- closed-loop evaluations (sampled actions, --n-eval-episodes each) under a grid of commands
  (desired return, desired horizon): whether the behaviour function follows the command at all, and how the
  episodes end: cut by the time limit, or terminated with a positive or a negative final reward (LunarLander:
  the +100 of coming to rest, the -100 of a crash; the sparse env's ``info["dense_reward"]`` is used there).

A command's horizon may be a multiple of the agent's own: ``M,1.5H``. ``--save`` keeps the trained agent,
``--load`` evaluates a saved one instead of training.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv

from benchmarks.udrl_benchmark import load_hyperparams, make_env, split_env_settings
from sb3_udrl import UDRL
from sb3_udrl.common.base import episodes_per_env

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


def parse_component(text: str, own: float, symbol: str) -> float:
    """``"M"``/``"H"`` (the agent's own value), ``"0.6H"`` (a multiple of it) or a number."""
    if text.endswith(symbol):
        return own * (float(text[: -len(symbol)]) if text != symbol else 1.0)
    return float(text)


def episode_outcomes(
    model: UDRL, env: VecEnv, n_episodes: int, deterministic: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Run ``n_episodes`` closed-loop episodes through ``predict()`` (the command carried in its state), a fixed share
    per env as ``UDRL.evaluate`` does, and tell how each ended: ``"truncated"`` (time limit), ``"positive"`` or
    ``"negative"`` final (dense) reward."""
    n_envs = env.num_envs
    targets, counts = episodes_per_env(n_episodes, n_envs), np.zeros(n_envs, dtype=int)
    obs = env.reset()
    state, starts = None, np.ones(n_envs, dtype=bool)
    current_return, current_length = np.zeros(n_envs), np.zeros(n_envs, dtype=int)
    returns, lengths, outcomes = [], [], []
    while (counts < targets).any():
        actions, state = model.predict(obs, state, starts, deterministic=deterministic)
        obs, rewards, dones, infos = env.step(actions)
        current_return += rewards
        current_length += 1
        starts = dones
        for i in np.flatnonzero(dones):
            if counts[i] < targets[i]:
                final_reward = float(infos[i].get("dense_reward", rewards[i]))
                truncated = infos[i].get("TimeLimit.truncated", False)
                outcomes.append("truncated" if truncated else ("positive" if final_reward > 0 else "negative"))
                returns.append(current_return[i])
                lengths.append(current_length[i])
                counts[i] += 1
            current_return[i], current_length[i] = 0.0, 0
    return np.array(returns), np.array(lengths), outcomes


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
        help="desired_return,desired_horizon pairs; M and H: the agent's own evaluation command, 1.5H: a multiple",
    )
    parser.add_argument("--save", default="", help="save the trained agent (and its replay) under this path")
    parser.add_argument("--load", default="", help="evaluate this saved agent (its replay next to it) instead")
    args = parser.parse_args()
    th.set_num_threads(1)

    params = load_hyperparams(args.env, args.params)
    n_envs, _, wrapper_class = split_env_settings(params)
    env = make_env(args.env, n_envs, args.seed, wrapper_class)
    if args.load:
        model = UDRL.load(args.load, env=env)
        model.load_replay_buffer(f"{args.load}_replay.pkl")
    else:
        model = UDRL(env=env, seed=args.seed, **params)
        model.learn(args.n_timesteps, log_interval=None)
    if args.save:
        model.save(args.save)
        model.save_replay_buffer(f"{args.save}_replay.pkl")

    eval_env = make_env(args.env, 10, args.seed + 20_000, wrapper_class)
    own_return, own_horizon = (float(c) for c in model.policy.eval_command)
    responses = []
    for pair in args.commands:
        text_return, text_horizon = pair.split(",")
        desired_return = parse_component(text_return, own_return, "M")
        desired_horizon = parse_component(text_horizon, own_horizon, "H")
        model.policy.eval_command.copy_(th.tensor([desired_return, desired_horizon]))
        returns, lengths, outcomes = episode_outcomes(model, eval_env, args.n_eval_episodes)
        response = dict(
            command=pair,
            desired_return=desired_return,
            desired_horizon=desired_horizon,
            mean_return=float(np.mean(returns)),
            std_return=float(np.std(returns)),
            mean_length=float(np.mean(lengths)),
        )
        for outcome in ("positive", "negative", "truncated"):
            ended = np.array([o == outcome for o in outcomes])
            response[f"{outcome}_share"] = float(ended.mean())
            response[f"{outcome}_mean_return"] = float(returns[ended].mean()) if ended.any() else float("nan")
            response[f"{outcome}_mean_length"] = float(lengths[ended].mean()) if ended.any() else float("nan")
        responses.append(response)
        print(responses[-1], flush=True)
    model.policy.eval_command.copy_(th.tensor([own_return, own_horizon]))

    result = dict(
        env=args.env,
        seed=args.seed,
        n_timesteps=model.num_timesteps,
        loaded=args.load or None,
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
