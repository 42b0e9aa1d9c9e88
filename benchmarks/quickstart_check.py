"""What the README's one-liner gives: ``UDRL("MlpPolicy", env).learn()`` on LunarLander-v3, over seeds.

    python benchmarks/quickstart_check.py --seeds 5 6 7 8 9

Trains with the constructor's defaults and ``learn()``'s default budget (16 envs with RewardFeedback, as in the
README's quick start), then evaluates each agent on 20 episodes, greedy (SB3's default) and sampled (the paper's).
Writes benchmarks/results/quickstart_udrl_LunarLander-v3.json, updated after every seed.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_udrl import UDRL, RewardFeedback
from sb3_udrl.common.base import DEFAULT_TOTAL_TIMESTEPS

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8, 9])
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: seeds in parallel processes)")
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    path = RESULTS / f"quickstart_udrl_{args.env}.json"
    for seed in args.seeds:
        env = make_vec_env(args.env, n_envs=16, seed=seed, wrapper_class=RewardFeedback, env_kwargs=dict(render_mode=None))
        start = time.perf_counter()
        model = UDRL("MlpPolicy", env, seed=seed).learn()  # the one-liner, seeded
        minutes = (time.perf_counter() - start) / 60
        eval_env = make_vec_env(args.env, n_envs=1, seed=seed + 1000, wrapper_class=RewardFeedback)
        greedy, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
        sampled, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=False)
        # read again just before writing: seeds may run in parallel processes, each adding its own
        runs = json.loads(path.read_text())["runs"] if path.exists() else {}
        runs[str(seed)] = dict(greedy=float(greedy), sampled=float(sampled), train_minutes=minutes)
        print(f"seed {seed}: greedy {greedy:.1f}, sampled {sampled:.1f} ({minutes:.1f} min)", flush=True)
        summary = {
            "command": "python benchmarks/quickstart_check.py --seeds SEED [SEED ...]",
            "code": 'UDRL("MlpPolicy", make_vec_env(env, n_envs=16, wrapper_class=RewardFeedback)).learn()',
            "env": args.env,
            "timesteps": DEFAULT_TOTAL_TIMESTEPS,
            "eval_episodes": args.eval_episodes,
            "runs": runs,
            "median_greedy": float(np.median([run["greedy"] for run in runs.values()])),
            "median_sampled": float(np.median([run["sampled"] for run in runs.values()])),
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=1))
        tmp.replace(path)


if __name__ == "__main__":
    main()
