"""
Does a command that no state can deliver cause UDRL's worst evaluation episodes? Evaluates a trained UDRL agent, greedy
and sampled, with the paper's closed-loop update (Algorithm 2) and with the desired return also capped by the state:
``d_r <- min(d_r, g(s, d_h))``, ``g`` an upper expectile of the return-to-go given the observation and the steps to go,
fitted on the agent's own sampled episodes (its own command; time-limit cuts left out, as the replay leaves them out by
default). A landed lander can collect about +100 more; the update can ask it for 150-290 (README, LunarLander-v3).

Example (40 episodes per variant and mode)::

    python -m benchmarks.state_cap_probe benchmarks/logs/udrl/LunarLander-v3_9/LunarLander-v3.zip \
        -o benchmarks/results/probes/state_cap_udrl_LunarLander-v3_s9.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from torch import nn

from sb3_udrl import UDRL
from sb3_udrl.common.base import episodes_per_env

#: the steps to go enter the expectile network divided by this, the return-to-go is fitted divided by it too
SCALE = 100.0


def run_episodes(
    model: UDRL, env_id: str, n_episodes: int, deterministic: bool, seed: int, cap: nn.Module | None = None
) -> list[dict[str, Any]]:
    """
    ``n_episodes`` closed-loop episodes from the agent's own evaluation command over 8 envs (each a fixed share, as
    SB3's ``evaluate_policy``), optionally with the desired return capped by ``cap(s, d_h)`` after each update.
    Each episode: ``observations (T, obs_dim)``, ``rewards (T,)``, ``truncated``.
    """
    n_envs = 8
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=dict(render_mode=None))
    quota = episodes_per_env(n_episodes, n_envs)
    done_per_env = np.zeros(n_envs, dtype=int)
    condition, max_return = model.policy.condition, float(model.policy.max_return)
    eval_command = model.policy.eval_command.cpu().numpy().astype(np.float64)
    obs = env.reset()
    command = np.tile(eval_command, (n_envs, 1))
    steps: list[list[tuple[np.ndarray, float]]] = [[] for _ in range(n_envs)]
    episodes = []
    while (done_per_env < quota).any():
        # the command is kept here rather than in predict()'s state, so that the cap can rewrite it between steps
        actions = model._act(obs, command, deterministic)
        new_obs, rewards, dones, infos = env.step(actions)
        for i in range(n_envs):
            steps[i].append((obs[i], float(rewards[i])))
        command = condition.update(command, rewards, max_return)
        for i in np.flatnonzero(dones):
            if done_per_env[i] < quota[i]:
                observations, episode_rewards = zip(*steps[i], strict=True)
                truncated = bool(infos[i].get("TimeLimit.truncated", False))
                episode = dict(observations=np.array(observations), rewards=np.array(episode_rewards), truncated=truncated)
                episodes.append(episode)
            done_per_env[i] += 1
            steps[i] = []
            command[i] = eval_command
        if cap is not None:
            with th.no_grad():
                inputs = th.as_tensor(np.column_stack([new_obs, command[:, 1] / SCALE]), dtype=th.float32)
                command[:, 0] = np.minimum(command[:, 0], cap(inputs).squeeze(1).numpy() * SCALE)
        obs = new_obs
    env.close()
    return episodes


def fit_expectile(episodes: list[dict[str, Any]], expectile: float, n_steps: int, seed: int) -> nn.Module:
    """``g(s, d_h)``: the ``expectile`` of the return-to-go from ``s`` with ``d_h`` steps to go (terminated episodes)."""
    inputs, targets = [], []
    for episode in episodes:
        if episode["truncated"]:
            continue
        rewards = episode["rewards"]
        steps_to_go = np.arange(len(rewards), 0, -1)
        inputs.append(np.column_stack([episode["observations"], steps_to_go / SCALE]))
        targets.append(np.cumsum(rewards[::-1])[::-1] / SCALE)
    x = th.as_tensor(np.concatenate(inputs), dtype=th.float32)
    y = th.as_tensor(np.concatenate(targets), dtype=th.float32)
    th.manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
    optimizer = th.optim.Adam(net.parameters(), lr=1e-3)
    generator = th.Generator().manual_seed(seed)
    for _ in range(n_steps):
        index = th.randint(len(x), (1024,), generator=generator)
        error = y[index] - net(x[index]).squeeze(1)
        # expectile regression (asymmetric squared error): errors above the estimate weigh `expectile`
        loss = (th.abs(expectile - (error < 0).float()) * error**2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def summary(episodes: list[dict[str, Any]], variant: str, mode: str) -> dict[str, Any]:
    returns = np.array([episode["rewards"].sum() for episode in episodes])
    crashed = np.array([not episode["truncated"] and episode["rewards"][-1] <= -100 for episode in episodes])
    # LunarLander's last two observation components: leg contacts
    touched_down = np.array([(episode["observations"][:, -2:] > 0.5).all(axis=1).any() for episode in episodes])
    return dict(
        variant=variant,
        mode=mode,
        mean_return=float(returns.mean()),
        median_return=float(np.median(returns)),
        min_return=float(returns.min()),
        crashed_share=float(crashed.mean()),
        crashed_after_both_legs_down_share=float(touched_down[crashed].mean()) if crashed.any() else None,
        truncated_share=float(np.mean([episode["truncated"] for episode in episodes])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a saved UDRL model (.zip)")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("-n", "--n-episodes", type=int, default=40, help="evaluation episodes per variant and mode")
    parser.add_argument("--fit-episodes", type=int, default=300, help="sampled episodes the expectile is fitted on")
    parser.add_argument("--expectile", type=float, default=0.9)
    parser.add_argument("--fit-steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=3000, help="seed of the evaluation envs (the fit uses seed + 1)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args()
    th.set_num_threads(1)
    model = UDRL.load(args.model, device="cpu")
    fit_data = run_episodes(model, args.env, args.fit_episodes, deterministic=False, seed=args.seed + 1)
    cap = fit_expectile(fit_data, args.expectile, args.fit_steps, args.seed)
    rows = []
    for variant, variant_cap in (("paper", None), ("state cap", cap)):
        for deterministic in (True, False):
            episodes = run_episodes(model, args.env, args.n_episodes, deterministic, args.seed, variant_cap)
            rows.append(summary(episodes, variant, "greedy" if deterministic else "sampled"))
            print(json.dumps(rows[-1]), flush=True)
    result = dict(
        model=args.model,
        env=args.env,
        eval_command=model.policy.eval_command.tolist(),
        expectile=args.expectile,
        fit_episodes=args.fit_episodes,
        rows=rows,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
