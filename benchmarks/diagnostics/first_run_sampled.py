"""The sampled-action evaluation of first runs (``examples/first_run.py`` evaluates greedy actions only).

    python benchmarks/diagnostics/first_run_sampled.py OUT/rcpa_LunarLander-v3_SEED/model.zip [...]

For each model, SB3's ``evaluate_policy`` with ``deterministic=False`` on 20 episodes of the env that ``first_run.py``
evaluates on (seed ``SEED + 1000``, read from the folder's name).
"""

import sys
from pathlib import Path

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_udrl import RCPA

if __name__ == "__main__":
    for argument in sys.argv[1:]:
        path = Path(argument)
        algo, env_id, seed = path.parent.name.rsplit("_", 2)
        if algo != "rcpa":
            raise ValueError(f"{path}: an RCPA first run's model.zip is expected, in a folder rcpa_ENV_SEED")
        model = RCPA.load(path, device="cpu")
        env = make_vec_env(env_id, n_envs=1, seed=int(seed) + 1000)
        mean, std = evaluate_policy(model, env, n_eval_episodes=20, deterministic=False)
        print(f"{path}: sampled {mean:.1f} +/- {std:.1f} over 20 episodes", flush=True)
