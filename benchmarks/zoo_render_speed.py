"""Wall time of an rl-zoo3 training run through ``python -m sb3_udrl.train``: envs without a render mode (our entry
point's default) against ``render_mode="rgb_array"`` (SB3's ``make_vec_env`` default, and rl-zoo3's before it).

    python benchmarks/zoo_render_speed.py --algo udrl --env LunarLander-v3 -n 300000 --parallel

Both runs use the YAML entry, no evaluation; ``--parallel`` runs them at the same time (on a machine with free cores:
each UDRL run with ``overlap_training`` uses two). Writes benchmarks/results/zoo_render_speed_{algo}_{env}.json.
The wall time includes the start-up of rl-zoo3 (a few seconds), measured too with a 1-step run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"render_mode None (default)": [], "render_mode rgb_array": ["--env-kwargs", "render_mode:'rgb_array'"]}


def command(algo: str, env: str, n_timesteps: int, folder: str, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "sb3_udrl.train", "--algo", algo, "--env", env, "-n", str(n_timesteps), "--seed", "0",
        "--eval-freq", "-1", "-f", folder, "--log-interval", "-2", *extra,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="udrl")
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("-n", "--n-timesteps", type=int, default=300_000)
    parser.add_argument("--parallel", action="store_true", help="run both variants at the same time")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run(command(args.algo, args.env, 1, folder, []), check=True, capture_output=True, env=env)
        startup = time.perf_counter() - start
        processes, starts, seconds = {}, {}, {}
        for name, extra in VARIANTS.items():
            starts[name] = time.perf_counter()
            processes[name] = subprocess.Popen(
                command(args.algo, args.env, args.n_timesteps, os.path.join(folder, name.split()[1]), extra),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
            if not args.parallel:
                processes[name].wait()
                seconds[name] = time.perf_counter() - starts[name]
        for name, process in processes.items():
            _, error = process.communicate()
            if process.returncode:
                raise RuntimeError(f"{name} failed: {error.decode()[-2000:]}")
            seconds.setdefault(name, time.perf_counter() - starts[name])
    default, rgb = seconds["render_mode None (default)"], seconds["render_mode rgb_array"]
    result = dict(
        algo=args.algo,
        env=args.env,
        n_timesteps=args.n_timesteps,
        parallel=args.parallel,
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        command="python benchmarks/zoo_render_speed.py " + " ".join(sys.argv[1:]),
        startup_seconds=startup,
        wall_seconds=seconds,
        speedup=rgb / default,
        speedup_without_startup=(rgb - startup) / (default - startup),
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"zoo_render_speed_{args.algo}_{args.env}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
