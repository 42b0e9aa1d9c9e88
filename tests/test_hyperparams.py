"""hyperparams/{udrl,rcpr,rcpa}.yml: every entry builds the model it describes (a typo or a repeated key must not pass
silently), and every algorithm has an entry for every env of udrl.yml."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import yaml
from torch import nn  # noqa: F401  (policy_kwargs strings may name activation functions)

import sb3_udrl  # noqa: F401  (registers LunarLanderSparse-v3)
from sb3_udrl import RCPA, RCPR, UDRL

HAS_VIZDOOM = importlib.util.find_spec("vizdoom") is not None
if HAS_VIZDOOM:
    import vizdoom.gymnasium_wrapper  # noqa: F401  (registers VizdoomTakeCover-v1)

HYPERPARAMS = Path(__file__).resolve().parents[1] / "hyperparams"
ALGOS = {"udrl": UDRL, "rcpr": RCPR, "rcpa": RCPA}
#: The ViZDoom screens' preprocessing (the benchmark's observations, as the paper's): not knowledge brought into a run
PREPROCESSING = "sb3_udrl.envs.vizdoom"
# Keys rl-zoo3 reads itself instead of passing them to the algorithm
ZOO_KEYS = {"n_envs", "n_timesteps", "env_wrapper", "normalize", "frame_stack", "callback", "vec_env_wrapper"}


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key_node, deep=deep) for key_node, _ in node.value]
        repeated = {key for key in keys if keys.count(key) > 1}
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"repeated keys {sorted(repeated)}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


ENTRIES: dict[str, dict[str, dict[str, Any]]] = {
    algo: yaml.load((HYPERPARAMS / f"{algo}.yml").read_text(), Loader=UniqueKeyLoader) for algo in ALGOS
}
#: Files of entries with env knowledge (sb3_udrl.envs' helpers), by algorithm
KNOWLEDGE_FILES = {"udrl_lunar_lander.yml": "udrl"}
KNOWLEDGE_ENTRIES = {name: yaml.load((HYPERPARAMS / name).read_text(), Loader=UniqueKeyLoader) for name in KNOWLEDGE_FILES}


def test_unique_key_loader_rejects_repeats() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="repeated keys"):
        yaml.load("a:\n  b: 1\n  b: 2\n", Loader=UniqueKeyLoader)


def test_every_algorithm_covers_every_env() -> None:
    for algo in ALGOS:
        assert set(ENTRIES[algo]) == set(ENTRIES["udrl"]), algo


def test_main_entries_have_no_env_knowledge() -> None:
    """The main files use no env-specific helper (sb3_udrl.envs): those entries live in files of their own."""
    for algo, entries in ENTRIES.items():
        for env_id, entry in entries.items():
            assert "sb3_udrl.envs" not in str(entry).replace(PREPROCESSING, ""), f"{algo}.yml {env_id}"
    for entries in KNOWLEDGE_ENTRIES.values():
        assert all("sb3_udrl.envs" in str(entry) for entry in entries.values())


@pytest.mark.parametrize(
    "algo, env_id, params",
    [(algo, env_id, ENTRIES[algo][env_id]) for algo in ALGOS for env_id in sorted(ENTRIES[algo])]
    + [(KNOWLEDGE_FILES[name], env_id, entries[env_id]) for name, entries in KNOWLEDGE_ENTRIES.items() for env_id in entries],
)
def test_entry_builds_its_model(
    algo: str, env_id: str, params: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rl_zoo3.utils import get_wrapper_class

    from sb3_udrl.zoo import OBJECT_HYPERPARAMS, resolve_objects

    if env_id.startswith("Vizdoom"):
        if not HAS_VIZDOOM:
            pytest.skip("vizdoom is not installed (pip install -e .[vizdoom])")
        monkeypatch.chdir(tmp_path)  # ViZDoom writes _vizdoom.ini and _vizdoom/ in the working directory
    params = resolve_objects(params)
    model_class = ALGOS[algo]
    unknown = set(params) - ZOO_KEYS - set(inspect.signature(model_class.__init__).parameters)
    assert not unknown, f"{env_id}: keys {model_class.__name__} does not take: {sorted(unknown)}"
    wrapper = get_wrapper_class(params)  # the env as rl-zoo3 wraps it (TakeCover's CNN needs its images)
    for key in ZOO_KEYS:
        params.pop(key, None)
    for key in ("policy_kwargs", "replay_buffer_kwargs"):
        if isinstance(params.get(key), str):  # rl-zoo3 evaluates these strings the same way
            params[key] = eval(params[key])
    model = model_class(env=wrapper(gym.make(env_id)) if wrapper else env_id, seed=0, **params)
    for key, value in params.items():
        if key not in ("policy", "policy_kwargs", *OBJECT_HYPERPARAMS):
            assert getattr(model, key) == value, f"{env_id}: {key} was not stored as given"
    model.env.close()
