"""Log UDRL training to TensorBoard, with periodic evaluation by SB3's EvalCallback.

    python examples/tensorboard_logging.py --timesteps 100000
    tensorboard --logdir runs/

Besides SB3's usual keys (rollout/ep_rew_mean, time/fps, train/loss, train/learning_rate), UDRL logs the
command it explores with (rollout/desired_return, rollout/desired_horizon) and the replay's best and mean return.
"""

import argparse

from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_udrl import UDRL, RewardFeedback


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--logdir", default="runs/")
    args = parser.parse_args()

    env = make_vec_env("CartPole-v1", n_envs=1, seed=0, wrapper_class=RewardFeedback)
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1, wrapper_class=RewardFeedback)
    eval_callback = EvalCallback(eval_env, eval_freq=max(args.timesteps // 5, 1), n_eval_episodes=5)
    model = UDRL("MlpPolicy", env, tensorboard_log=args.logdir, seed=0, verbose=1)
    model.learn(args.timesteps, callback=eval_callback, tb_log_name="udrl_cartpole")
    print(f"last evaluation: {eval_callback.last_mean_reward:.1f}; logs in {args.logdir}")


if __name__ == "__main__":
    main()
