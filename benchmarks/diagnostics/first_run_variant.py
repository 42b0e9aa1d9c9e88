"""``examples/first_run.py`` (RCPA) with its settings changed, for probes of the first run.

    python benchmarks/diagnostics/first_run_variant.py [--ent-coef X] [--holds none|decay|epsP] \
        [--weighting exp|binary] [--checkpoints DIR] --seed N --out DIR

``--holds decay``: ez-greedy's holds decaying over half the budget, ``ActionHolds(0.01, steps=10_000, zeta_mu=2.0,
fraction=0.5)`` (RCPA's default, ``action_holds="ez_greedy_decay"``); ``none``: no holds; ``epsP``: a random action for
one step with probability P (``ActionHolds(P, steps=1)``, epsilon-greedy).
``--checkpoints DIR``: SB3's ``CheckpointCallback`` every 50k steps, with the replay (read by ``rcpa_replay.py``). The
other arguments go to ``first_run.py``. Made at the same commit, ``--ent-coef 0 --holds decay --weighting binary`` (the
defaults) give ``first_run.py``'s own run; checkpoints do not change it. Before RCPA's defaults became the binary
filter with decaying holds, the probes' ``--holds none --weighting exp`` were those defaults.
"""

import argparse
import runpy
import sys
from pathlib import Path

from stable_baselines3.common.callbacks import CheckpointCallback

from sb3_udrl import RCPA
from sb3_udrl.common.exploration import ActionHolds

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ent-coef", type=float, default=0.0)
    parser.add_argument("--holds", default="decay")
    parser.add_argument("--weighting", default="binary", choices=["exp", "binary"])
    parser.add_argument("--checkpoints", type=Path)
    args, rest = parser.parse_known_args()
    script = runpy.run_path(str(Path(__file__).parents[2] / "examples" / "first_run.py"), run_name="first_run")
    kwargs = script["SETTINGS"]["rcpa"]["kwargs"]
    kwargs["ent_coef"] = args.ent_coef
    kwargs["weighting"] = args.weighting
    if args.holds == "decay":
        kwargs["action_holds"] = ActionHolds(0.01, steps=10_000, zeta_mu=2.0, fraction=0.5)
    elif args.holds.startswith("eps"):
        kwargs["action_holds"] = ActionHolds(float(args.holds[3:]), steps=1)
    elif args.holds == "none":
        kwargs["action_holds"] = None
    else:
        raise ValueError(f"--holds must be none, decay or epsP, got {args.holds!r}")
    probe = f"ent_coef={args.ent_coef}, holds {args.holds}, weighting {args.weighting}"
    script["SETTINGS"]["rcpa"]["expect"] = f"(a probe: {probe})"
    if args.checkpoints is not None:
        learn, folder = RCPA.learn, str(args.checkpoints)

        def learn_with_checkpoints(self, *learn_args, **learn_kwargs):
            learn_kwargs["callback"] = CheckpointCallback(50_000 // self.n_envs, folder, save_replay_buffer=True)
            return learn(self, *learn_args, **learn_kwargs)

        RCPA.learn = learn_with_checkpoints
    sys.argv = [sys.argv[0], *rest]
    script["main"]()
