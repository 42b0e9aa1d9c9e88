"""What each YAML entry of sb3_udrl's algorithms sets beyond the class defaults (docs/design/one_setting.md).

    python benchmarks/diagnostics/entry_settings.py

For every entry of ``hyperparams/{udrl,rcpr,rcpa}.yml``, prints as a Markdown table the hyperparameters whose value
differs from the constructor's default, leaving out the env's interface (``n_timesteps``, ``n_envs``, ``policy``,
``env_wrapper``), ``overlap_training`` (where the updates run, not what they compute: the acting policy lags one
iteration) and the replay's ``frame_stack`` (how stacked screens are stored: training is the same to the bit).
``policy_kwargs`` counts key by key against the policy's defaults (the algorithm's, for ``action_bins``).
"""

import inspect
from pathlib import Path

import yaml

from sb3_udrl import RCPA, RCPR, UDRL
from sb3_udrl.common.policies import CommandPolicy

HYPERPARAMS = Path(__file__).resolve().parents[2] / "hyperparams"
INTERFACE = ("n_timesteps", "n_envs", "policy", "env_wrapper", "overlap_training")


def defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items() if p.default is not inspect._empty}


def beyond_defaults(algo_class, entry: dict) -> list[str]:
    class_defaults, policy_defaults = defaults(algo_class.__init__), defaults(CommandPolicy.__init__)
    policy_defaults["net_arch"] = [64, 128, 128]  # None in the signature: the policy's default architecture
    changed = []
    for key, value in entry.items():
        if key in INTERFACE:
            continue
        if key == "policy_kwargs":
            kwargs = eval(value, {}) if isinstance(value, str) else value  # rl-zoo3 evaluates these strings too
            reference = {**policy_defaults, **class_defaults}
            changed += [f"`{k}={v!r}`" for k, v in kwargs.items() if reference.get(k, object()) != v]
        elif key == "replay_buffer_kwargs":
            kwargs = eval(value, {}) if isinstance(value, str) else value
            changed += [f"`{k}={v!r}` (replay)" for k, v in kwargs.items() if k != "frame_stack"]
        elif class_defaults.get(key, object()) != value:
            changed.append(f"`{key}={value!r}`")
    return changed


def main() -> None:
    algos = {"udrl": UDRL, "rcpr": RCPR, "rcpa": RCPA}
    entries = {algo: yaml.safe_load((HYPERPARAMS / f"{algo}.yml").read_text()) for algo in algos}
    envs = list(dict.fromkeys(env for table in entries.values() for env in table))
    print("| env | " + " | ".join(a.upper() for a in algos) + " |")
    print("|---|" + "---|" * len(algos))
    for env in envs:
        cells = []
        for algo, algo_class in algos.items():
            entry = entries[algo].get(env)
            cells.append("no entry" if entry is None else ", ".join(beyond_defaults(algo_class, entry)) or "none")
        print(f"| {env} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
