"""Train UDRL on LunarLander-v3 and evaluate it with SB3's evaluate_policy.

    python examples/train_lunar_lander.py --timesteps 3000000

RewardFeedback lets predict() update the command with the reward of each step, as the paper's
Algorithm 2 does, inside evaluate_policy, EvalCallback or rl-zoo3's enjoy.
"""

import argparse

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_udrl import UDRL, RewardFeedback


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--timesteps", type=int, default=3_000_000)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # render_mode=None: make_vec_env defaults to "rgb_array", with which LunarLander also simulates its engine
    # particles (decoration only) and steps 2-4x slower
    env = make_vec_env(
        args.env, n_envs=args.n_envs, seed=args.seed, wrapper_class=RewardFeedback, env_kwargs=dict(render_mode=None)
    )
    # The settings of hyperparams/udrl.yml (README, Results): the replay also keeps the 200 most recent episodes and the
    # exploratory command comes from the 20 best of them; 200 updates per iteration run in a learner process
    model = UDRL(
        "MlpPolicy",
        env,
        last_few=20,
        n_updates_per_iter=200,
        recent_episodes=200,
        recent_command=True,
        overlap_training=True,
        seed=args.seed,
        verbose=1,
    )
    model.learn(args.timesteps, log_interval=10)

    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 1000, wrapper_class=RewardFeedback)
    # Sampled actions, as the paper evaluates (and as benchmarks/ reports)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=False)
    print(f"{args.env}: mean return {mean:.1f} +/- {std:.1f} over {args.eval_episodes} episodes (sampled actions)")


if __name__ == "__main__":
    main()
