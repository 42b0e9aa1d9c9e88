"""Which code, which env knowledge and which settings a benchmark run used: the commit it ran, the helpers of
``sb3_udrl.envs`` its hyperparameters name, and the overrides of its YAML entry."""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _git(*args: str) -> str | None:
    """Output of ``git args`` in the package's checkout, or None outside one."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


#: The code under each of sb3_udrl's algorithms (paths relative to the package): a run made before the last commit
#: that changed it is marked in the report
ALGORITHM_CODE: dict[str, tuple[str, ...]] = {
    "udrl": ("common", "udrl"),
    "rcpr": ("common", "rcpr"),
    "rcpa": ("common", "rcpa"),
}


def code_version() -> dict[str, Any]:
    """The package version and, in a git checkout, the commit and whether the algorithms' code (``ALGORITHM_CODE``)
    had uncommitted changes."""
    from sb3_udrl import __version__

    package = Path(__file__).resolve().parents[1]
    paths = sorted({str(package / part) for parts in ALGORITHM_CODE.values() for part in parts})
    commit = _git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git("status", "--porcelain", "--", *paths))
    return dict(version=__version__, commit=commit, dirty=dirty)


@functools.cache
def _last_change(algo: str) -> str | None:
    """The last commit that changed ``ALGORITHM_CODE[algo]`` (asked of git once per report, not once per run)."""
    package = Path(__file__).resolve().parents[1]
    return _git("log", "-1", "--format=%H", "--", *(str(package / part) for part in ALGORITHM_CODE[algo]))


def is_current(algo: str, commit: str | None, dirty: bool | None = False) -> bool | None:
    """
    Whether a run made at ``commit`` ran today's code of ``algo``: no commit since changed ``ALGORITHM_CODE[algo]``.
    True for algorithms outside sb3_udrl; None when it cannot be told (no git checkout); False for a run with no
    recorded commit, or with uncommitted changes.
    """
    if algo not in ALGORITHM_CODE:
        return True
    last_change = _last_change(algo)
    if not last_change:
        return None
    if commit is None or dirty:
        return False
    return _git("merge-base", "--is-ancestor", last_change, commit) is not None


def env_knowledge(config: dict[str, Any]) -> list[str]:
    """
    The env-specific helpers a run's hyperparameters (rl-zoo3's ``config.yml``) name: values that are, or contain,
    a dotted path under ``sb3_udrl.envs``, by key (e.g. ``["ground_holds", "lunar_lander_mirror"]``). ``env_wrapper``
    is the env's interface (e.g. TakeCover's image preprocessing, which the baselines' entries use too), not knowledge.
    """
    names = []
    for key, value in sorted(config.items()):  # in the order of rl-zoo3's config.yml
        if key == "env_wrapper":
            continue
        for text in [value, *(value.keys() if isinstance(value, dict) else [])]:
            if isinstance(text, str) and text.startswith("sb3_udrl.envs."):
                names.append(text.rsplit(".", 1)[-1])
        if key in ("symmetry", "hold_when") and value is not None:  # the options before sb3_udrl.envs
            names.append(f"{key}={value}")
    return names


def hyperparams_overrides(words: Sequence[str]) -> list[str]:
    """
    The ``KEY:VALUE`` items after ``--hyperparams`` in a command's words (the sweep's ``--params``), up to the next
    option. A word that does not start with ``KEY:`` continues the item before it: a value with spaces, from a command
    recorded as one string (``benchmark.json`` before it recorded the items themselves).
    """
    if "--hyperparams" not in words:
        return []
    items: list[str] = []
    for word in words[list(words).index("--hyperparams") + 1 :]:
        if word.startswith("--"):
            break
        if items and not re.match(r"^\w+:", word):
            items[-1] += f" {word}"
        else:
            items.append(word)
    return items
