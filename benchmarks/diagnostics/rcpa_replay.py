"""What an RCPA LunarLander-v3 replay holds where the lander flies off, and what the policy learned there.

    python benchmarks/diagnostics/rcpa_replay.py CHECKPOINT_FOLDER STEPS [STEPS ...] > OUTPUT.txt

``CHECKPOINT_FOLDER`` holds SB3's ``CheckpointCallback(save_replay_buffer=True)`` files of one run
(``rl_model_{STEPS}_steps.zip`` and ``rl_model_replay_buffer_{STEPS}_steps.pkl``). For each checkpoint, with the
checkpoint's own ``V``: the replay's episodes and how many flew above a height of 2 (the lander starts at 1.4), then
for four groups of steps (all; above a height of 2; the first 10 steps of every episode; the first 10 steps of the
episodes that flew off) how often each action (no-op, left, main, right engine) was taken, the mean normalised
advantage ``A`` of the steps that took it, and the policy's mean probabilities there when asked for an advantage of
+1 (evaluation's target) and +3. This script reads LunarLander's observation layout; the algorithms do not.
"""

import sys
from pathlib import Path

import numpy as np
import torch as th

from sb3_udrl import RCPA

ACTIONS = ("no-op", "left", "main", "right")
HIGH = 2.0  # height above which the lander has flown off: it starts at 1.4


def report(model_zip: Path, replay: Path) -> str:
    model = RCPA.load(model_zip, device="cpu")
    model.load_replay_buffer(replay)
    buffer = model.replay_buffer
    rows, mask = buffer.padded_rows()
    returns, values = model._returns_and_values(rows, mask)  # TD(lambda) returns and V, as training computes them
    advantages = (returns - values)[mask]
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-5)
    observations = buffer.observations_at(rows[mask])
    actions = buffer.actions[rows[mask]].reshape(-1).astype(int)
    lengths = mask.sum(1)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flew = np.repeat([observations[s : s + n, 1].max() > HIGH for s, n in zip(starts, lengths, strict=True)], lengths)
    first_10 = np.zeros(len(observations), dtype=bool)
    first_10[np.concatenate([np.arange(s, s + min(n, 10)) for s, n in zip(starts, lengths, strict=True)])] = True
    n, n_flew = buffer.n_episodes, int(flew[starts].sum())
    lines = [
        f"{model_zip.name}: {n} episodes ({mask.sum()} steps), mean return {buffer.ep_return[:n].mean():.0f}; "
        f"{n_flew} flew above {HIGH}" + (f" (mean return {buffer.ep_return[:n][flew[starts]].mean():.0f})" if n_flew else "")
    ]
    groups = {
        "all steps": np.ones(len(observations), dtype=bool),
        f"above {HIGH}": observations[:, 1] > HIGH,
        "first 10 steps": first_10,
        "first 10 steps, flown-off episodes": first_10 & flew,
    }
    for name, chosen in groups.items():
        if not chosen.any():
            continue
        counts = np.bincount(actions[chosen], minlength=len(ACTIONS))
        taken = ", ".join(
            f"{ACTIONS[a]} {counts[a]}" + (f" (A {advantages[chosen & (actions == a)].mean():+.2f})" if counts[a] else "")
            for a in range(len(ACTIONS))
        )
        obs = th.as_tensor(model._normalize_obs(observations[chosen]), dtype=th.float32)
        asked = []
        with th.no_grad():
            for target in (1.0, 3.0):
                probs = model.policy.distribution(obs, th.full((len(obs), 1), target)).distribution.probs.mean(0)
                asked.append(f"pi at Z={target:+.0f}: " + " ".join(f"{p:.2f}" for p in probs.tolist()))
        lines.append(f"  {name}, {chosen.sum()} steps: {taken}; {'; '.join(asked)}")
    return "\n".join(lines)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    for steps in sys.argv[2:]:
        print(report(folder / f"rl_model_{steps}_steps.zip", folder / f"rl_model_replay_buffer_{steps}_steps.pkl"), flush=True)
