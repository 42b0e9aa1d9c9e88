"""Cost of one gradient update of a YAML entry, on one torch thread, as it runs and under the ways tried to cheapen it.

    python -m benchmarks.update_cost --env LunarLander-v3 -o benchmarks/results/update_cost_LunarLander-v3.json

A whole UDRL run of the LunarLander entry is bound by its learner (README, Speed): this times ``train()`` on a replay
filled by a short run, per update, in wall and thread CPU time, for

- ``eager``: the update as it runs (float32, eager PyTorch);
- ``compiled``: the policy's ``log_prob`` through ``torch.compile`` (Inductor: fused element-wise kernels);
- ``bf16_autocast``: the forward pass under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (changes the numerics);
- ``matmuls_only``: the update's matrix products alone, a floor for any float32 update of this network on one thread.

Variants are interleaved over ``--repeats`` rounds so that a drift of the machine hits them alike. Run it on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch as th

import sb3_udrl
from benchmarks.speed_benchmark import load_entry, make_env
from sb3_udrl.zoo import ZOO_ALGOS


def matmul_step(policy: th.nn.Module, batch_size: int) -> Callable[[], None]:
    """The matrix products of one forward and backward pass through ``policy``'s linear layers: for each, the forward
    product and the gradient of its weights, and for the layers after the embeddings the gradient of their input."""
    embeddings = {m for module in (policy.obs_embedding, policy.command_embedding) for m in module.modules()}
    layers = [m for m in policy.modules() if isinstance(m, th.nn.Linear)]
    inputs = [th.randn(batch_size, layer.in_features) for layer in layers]
    grads = [th.randn(batch_size, layer.out_features) for layer in layers]
    input_grad = [layer not in embeddings for layer in layers]

    def step() -> None:
        for layer, x, g, needs_input_grad in zip(layers, inputs, grads, input_grad, strict=True):
            weight = layer.weight.detach()
            x @ weight.t()
            g.t() @ x
            if needs_input_grad:
                g @ weight

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="udrl", choices=sorted(ZOO_ALGOS))
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--fill-timesteps", type=int, default=60_000, help="steps of the run that fills the replay")
    parser.add_argument("--updates", type=int, default=200, help="updates per timing")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds per variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()

    th.set_num_threads(1)
    params, n_envs, wrapper_class = load_entry(args.algo, args.env, [])
    params.pop("overlap_training", None)
    batch_size = params["batch_size"]
    algo_class = ZOO_ALGOS[args.algo]
    # The replay fills with few updates: the timing needs the replay, not a trained agent
    fill_params = {**params, "n_updates_per_iter": 5}
    model = algo_class(env=make_env(args.env, n_envs, args.seed, wrapper_class), seed=args.seed, **fill_params)
    model.learn(args.fill_timesteps)
    policy = model.policy
    eager_log_prob = policy.log_prob

    compiled = th.compile(eager_log_prob)
    start = time.perf_counter()
    policy.log_prob = compiled  # the first call compiles
    model.train(1, batch_size)
    compile_seconds = time.perf_counter() - start
    policy.log_prob = eager_log_prob

    def update(log_prob: Callable, autocast: bool) -> Callable[[], None]:
        def run() -> None:
            policy.log_prob = log_prob
            with th.autocast("cpu", dtype=th.bfloat16) if autocast else nullcontext():
                model.train(args.updates, batch_size)
            policy.log_prob = eager_log_prob

        return run

    matmuls = matmul_step(policy, batch_size)
    variants: dict[str, Callable[[], None]] = {
        "eager": update(eager_log_prob, False),
        "compiled": update(compiled, False),
        "bf16_autocast": update(eager_log_prob, True),
        "matmuls_only": lambda: [matmuls() for _ in range(args.updates)],
    }
    times: dict[str, dict[str, list[float]]] = {name: {"wall_ms": [], "cpu_ms": []} for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            wall, cpu = time.perf_counter(), time.thread_time()
            run()
            times[name]["wall_ms"].append((time.perf_counter() - wall) * 1e3 / args.updates)
            times[name]["cpu_ms"].append((time.thread_time() - cpu) * 1e3 / args.updates)

    summary = {name: {key: float(np.median(values)) for key, values in t.items()} for name, t in times.items()}
    result = {
        "command": f"python -m benchmarks.update_cost --algo {args.algo} --env {args.env} -o {args.output}",
        "algo": args.algo,
        "env": args.env,
        "batch_size": batch_size,
        "updates_per_timing": args.updates,
        "repeats": args.repeats,
        "compile_seconds": compile_seconds,
        "median_ms_per_update": summary,
        "ms_per_update": times,
        "torch": th.__version__,
        "cpu_capability": th.backends.cpu.get_cpu_capability(),
        "machine": platform.processor() or platform.machine(),
        "sb3_udrl": sb3_udrl.__version__,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for name, values in summary.items():
        print(f"{name:>14}: {values['wall_ms']:.2f} ms wall, {values['cpu_ms']:.2f} ms CPU per update")
    print(f"compile: {compile_seconds:.1f} s; written {args.output}")


if __name__ == "__main__":
    main()
