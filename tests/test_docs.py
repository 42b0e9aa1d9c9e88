"""The per-algorithm pages document every constructor argument."""

import inspect
from pathlib import Path

import pytest

from sb3_udrl import RCPA, RCPR, UDRL

PAGES = Path(__file__).resolve().parents[1] / "docs" / "modules"


@pytest.mark.parametrize("algorithm, page", [(UDRL, "udrl"), (RCPR, "rcpr"), (RCPA, "rcpa")])
def test_every_constructor_argument_is_documented(algorithm, page):
    text = (PAGES / f"{page}.md").read_text()
    names = [name for name in inspect.signature(algorithm.__init__).parameters if name not in ("self", "_init_setup_model")]
    assert [name for name in names if f"| `{name}` |" not in text] == []
