"""Save a UDRL model and its replay, load them, and continue training where it stopped.

python examples/save_load_continue.py --timesteps 50000
"""

import argparse
import tempfile
from pathlib import Path

from stable_baselines3.common.env_util import make_vec_env

from sb3_udrl import UDRL, RewardFeedback


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timesteps", type=int, default=50_000)
    args = parser.parse_args()

    env = make_vec_env("CartPole-v1", n_envs=1, seed=0, wrapper_class=RewardFeedback)
    model = UDRL("MlpPolicy", env, seed=0).learn(args.timesteps)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        model.save(path / "udrl_cartpole")  # weights, hyperparameters, evaluation command
        model.save_replay_buffer(path / "udrl_cartpole_replay")  # the best and most recent episodes, to continue training

        # A hyperparameter can be changed at load time, like any SB3 algorithm
        loaded = UDRL.load(path / "udrl_cartpole", env=env, n_updates_per_iter=50)
        loaded.load_replay_buffer(path / "udrl_cartpole_replay")

    loaded.learn(args.timesteps, reset_num_timesteps=False)
    returns, _ = loaded.evaluate(make_vec_env("CartPole-v1", n_envs=1, seed=1), n_eval_episodes=5)  # plain env: fine
    print(f"after {loaded.num_timesteps} steps: mean return {sum(returns) / len(returns):.1f}")


if __name__ == "__main__":
    main()
