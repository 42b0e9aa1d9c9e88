"""Does a CnnPolicy's conv stack still see the image? TakeCover frames through NatureCNN.

    # a trained model: its features over 300 frames of random play
    python benchmarks/diagnostics/cnn_features.py --model logs/udrl/VizdoomTakeCover-v1_1/VizdoomTakeCover-v1.zip
    # UDRL's TakeCover entry (4 envs, no learner process) from scratch, every 2,000 steps up to 12,000
    python benchmarks/diagnostics/cnn_features.py --train [--ortho-init 0|1] [--learning-rate LR]

Prints the share of zero outputs of each of NatureCNN's three ReLUs and the standard deviation of its features across
frames (0: the policy answers every frame alike).
"""

import argparse

import gymnasium as gym
import numpy as np
import torch as th
import vizdoom.gymnasium_wrapper  # noqa: F401  (registers VizdoomTakeCover-v1)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.preprocessing import preprocess_obs

from sb3_udrl import UDRL, RewardFeedback
from sb3_udrl.envs.vizdoom import TakeCoverObservation


def random_frames(n: int = 300) -> th.Tensor:
    env = TakeCoverObservation(gym.make("VizdoomTakeCover-v1"), size=64, frame_skip=4)
    obs, _ = env.reset(seed=0)
    frames = []
    for _ in range(n):
        frames.append(obs.transpose(2, 0, 1))  # channel-first, as the policy sees them
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return th.as_tensor(np.stack(frames))


def conv_stats(model: UDRL, frames: th.Tensor) -> str:
    policy = model.policy
    x = preprocess_obs(frames, policy.base_observation_space, normalize_images=policy.normalize_images)
    dead = []
    with th.no_grad():
        for layer in policy.features_extractor.cnn:
            x = layer(x)
            if isinstance(layer, th.nn.ReLU):
                dead.append(f"{(x == 0).float().mean().item():.2f}")
        features = policy.features_extractor(
            preprocess_obs(frames, policy.base_observation_space, normalize_images=policy.normalize_images)
        )
    return f"zero ReLU outputs {' / '.join(dead)}, feature std across frames {features.std(0).mean().item():.4f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--ortho-init", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    args = parser.parse_args()
    th.set_num_threads(1)
    frames = random_frames()
    if args.model:
        print(f"{args.model}: {conv_stats(UDRL.load(args.model, device='cpu'), frames)}")
    if args.train:

        def wrapper(env: gym.Env) -> gym.Env:
            return RewardFeedback(TakeCoverObservation(env, size=64, frame_skip=4))

        env = make_vec_env("VizdoomTakeCover-v1", n_envs=4, seed=0, wrapper_class=wrapper)
        model = UDRL("CnnPolicy", env, seed=0, batch_size=256, n_updates_per_iter=25, learning_rate=args.learning_rate,
                     policy_kwargs=dict(ortho_init=bool(args.ortho_init)))  # fmt: skip
        print(f"ortho_init {bool(args.ortho_init)}, learning rate {args.learning_rate}")
        print(f"      0 steps: {conv_stats(model, frames)}", flush=True)
        for chunk in range(6):
            model.learn(2000, reset_num_timesteps=chunk == 0)
            print(f"{model.num_timesteps:7d} steps: {conv_stats(model, frames)}", flush=True)
