"""rl-zoo3 integration (install extra ``zoo``).

rl-zoo3 has no plugin mechanism: :func:`register` adds the algorithms of :data:`ZOO_ALGOS` (and their Optuna
samplers) to its registries, in place, so that its own ``train``, ``enjoy`` and ``record_video`` accept them.
The entry points ``python -m sb3_udrl.train|enjoy|record_video`` and the ``sb3_udrl_zoo`` command do that
before handing over to rl-zoo3 (``sb3_udrl.zoo.cli``).

Importing this package does not import rl-zoo3 (which patches gymnasium when imported); :func:`register` does.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.resources
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_udrl.common.exploration import HOLDS_BY_NAME
from sb3_udrl.rcpa import RCPA
from sb3_udrl.rcpr import RCPR
from sb3_udrl.udrl import UDRL
from sb3_udrl.zoo.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER

#: The algorithms made available to rl-zoo3, by the name given to ``--algo``
ZOO_ALGOS: dict[str, type[BaseAlgorithm]] = {
    "udrl": UDRL,
    "rcpr": RCPR,
    "rcpa": RCPA,
}


def _check_algo(algo: str) -> None:
    if algo not in ZOO_ALGOS:
        raise ValueError(f"Unknown algorithm {algo!r}: sb3_udrl provides {sorted(ZOO_ALGOS)}")


def _conflict(registry: dict, name: str, value: object, registry_name: str) -> str | None:
    """Description of the entry that ``registry[name] = value`` would replace, if it is a different one."""
    current = registry.get(name)
    if current is not None and current is not value:
        return f"{registry_name}[{name!r}] = {current!r}"
    return None


def register(overwrite: bool = False) -> None:
    """
    Add the algorithms of :data:`ZOO_ALGOS` to ``rl_zoo3.utils.ALGOS`` and their samplers and converters to
    ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER`` / ``HYPERPARAMS_CONVERTER``.

    The dictionaries are modified in place, so every rl-zoo3 module that imported them sees the new entries.
    Calling it again is harmless.

    :param overwrite: replace an entry of the same name that rl-zoo3 maps to something else
        (otherwise that raises ``ValueError``)
    """
    from rl_zoo3 import hyperparams_opt, utils

    entries: list[tuple[dict, str, str, object]] = []
    for name, algo_class in ZOO_ALGOS.items():
        entries.append((utils.ALGOS, "ALGOS", name, algo_class))
        if name in HYPERPARAMS_SAMPLER:
            entries.append((hyperparams_opt.HYPERPARAMS_SAMPLER, "HYPERPARAMS_SAMPLER", name, HYPERPARAMS_SAMPLER[name]))
            entries.append((hyperparams_opt.HYPERPARAMS_CONVERTER, "HYPERPARAMS_CONVERTER", name, HYPERPARAMS_CONVERTER[name]))
    # Check everything first: a refused registration changes nothing
    conflicts = [
        conflict
        for registry, registry_name, name, value in entries
        if (conflict := _conflict(registry, name, value, registry_name))
    ]
    if conflicts and not overwrite:
        raise ValueError(f"rl-zoo3 already has {', '.join(conflicts)}; call register(overwrite=True) to replace them")
    for registry, _, name, value in entries:
        registry[name] = value


#: Constructor arguments that take an object which a YAML entry names by dotted path (``sb3_udrl.envs``' helpers)
OBJECT_HYPERPARAMS = ("mirror", "action_holds")


def resolve_objects(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """
    ``hyperparams`` with the values of :data:`OBJECT_HYPERPARAMS` made into objects, as rl-zoo3 makes ``env_wrapper``:
    ``"module.function"`` is called without arguments, ``{"module.function": {kwargs}}`` with them; None, the holds
    the algorithms know by name (``"ez_greedy"``, ``"ez_greedy_decay"``) and objects stay as they are. The YAML entry
    (rl-zoo3 saves it as ``config.yml``) is then the one place that says what a run used.

    :param hyperparams: an rl-zoo3 entry
    :return: a new dict
    """
    from rl_zoo3.utils import get_class_by_name

    resolved = dict(hyperparams)
    for key in OBJECT_HYPERPARAMS:
        value = resolved.get(key)
        if isinstance(value, str) and value not in HOLDS_BY_NAME:  # a name: the algorithm's own holds (action_holds)
            resolved[key] = get_class_by_name(value)()
        elif isinstance(value, dict):
            if len(value) != 1 or not isinstance(next(iter(value)), str):
                raise ValueError(f"{key} must be a dotted path or {{dotted.path: {{kwargs}}}}, got {value!r}")
            ((name, kwargs),) = value.items()
            resolved[key] = get_class_by_name(name)(**(kwargs or {}))
    return resolved


def default_config(algo: str) -> str:
    """
    Path of the hyperparameter file of ``algo``: ``hyperparams/{algo}.yml``.

    Installed packages ship it as ``sb3_udrl/hyperparams/``; in a source checkout it is the top-level
    ``hyperparams/`` folder.

    :param algo: name of one of :data:`ZOO_ALGOS`
    :return: the path of the YAML file
    """
    _check_algo(algo)
    file_name = f"{algo}.yml"
    candidates = [
        Path(str(importlib.resources.files("sb3_udrl") / "hyperparams" / file_name)),
        Path(__file__).resolve().parents[2] / "hyperparams" / file_name,
    ]
    for path in candidates:
        if path.is_file():
            return str(path)
    raise FileNotFoundError(f"No hyperparameter file for {algo!r}: looked for {[str(path) for path in candidates]}")


def with_default_conf(argv: list[str]) -> list[str]:
    """
    Command line of rl-zoo3's ``train`` with ``--conf-file`` pointing at :func:`default_config` when ``--algo``
    names one of :data:`ZOO_ALGOS` and no ``-conf/--conf-file`` is given; otherwise ``argv`` unchanged.

    :param argv: the full command line (``sys.argv``: program name first)
    :return: a new list
    """
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--algo", default=None)
    parser.add_argument("-conf", "--conf-file", default=None)
    try:
        known, _ = parser.parse_known_args(argv[1:])
    except argparse.ArgumentError:
        # Malformed command line: rl-zoo3's own parser reports it
        return list(argv)
    if known.algo in ZOO_ALGOS and known.conf_file is None:
        return [*argv, "--conf-file", default_config(known.algo)]
    return list(argv)


def with_render_mode(argv: list[str], render_mode: str | None) -> list[str]:
    """
    Command line of an rl-zoo3 script with ``render_mode`` added to ``--env-kwargs``, unless it sets one already.

    SB3's ``make_vec_env``, and so rl-zoo3, makes envs with ``render_mode="rgb_array"`` by default, with which
    LunarLander also simulates its decorative engine particles and steps 2-4x slower: ``train`` gets ``None`` (fast).
    rl-zoo3's ``enjoy`` reads the training's ``--env-kwargs`` back, so it gets ``"human"`` (it renders, as rl-zoo3's
    own default does); ``record_video`` sets ``"rgb_array"`` itself.

    :param argv: the full command line (``sys.argv``: program name first)
    :param render_mode: the render mode to add
    :return: a new list
    """
    argv = list(argv)
    value = f"render_mode:{render_mode!r}"  # rl-zoo3 evaluates the value: None, 'human'
    if "--env-kwargs" not in argv:
        return [*argv, "--env-kwargs", value]
    start, end = _option_items(argv, "--env-kwargs")
    if any(item.split(":", 1)[0] == "render_mode" for item in argv[start:end]):
        return argv
    argv.insert(start, value)
    return argv


def _option_items(argv: list[str], option: str) -> tuple[int, int]:
    """Where the items of ``option`` (present in ``argv``) stand: ``argv[start:end]``, up to the next option."""
    start = argv.index(option) + 1
    end = start
    while end < len(argv) and not argv[end].startswith("-"):
        end += 1
    return start, end


def import_gym_packages(argv: list[str]) -> list[str]:
    """
    Import the modules of ``--gym-packages`` (which register envs, e.g. ``vizdoom.gymnasium_wrapper``) and return the
    command line without that option: for rl-zoo3's ``record_video``, which has no such option (``train`` and
    ``enjoy`` do).

    :param argv: the full command line (``sys.argv``: program name first)
    :return: a new list
    """
    argv = list(argv)
    if "--gym-packages" not in argv:
        return argv
    start, end = _option_items(argv, "--gym-packages")
    for module in argv[start:end]:
        importlib.import_module(module)
    return argv[: start - 1] + argv[end:]


__all__ = [
    "OBJECT_HYPERPARAMS",
    "ZOO_ALGOS",
    "default_config",
    "import_gym_packages",
    "register",
    "resolve_objects",
    "with_default_conf",
    "with_render_mode",
]
