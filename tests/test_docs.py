"""The docs document every constructor argument and today's YAML entries."""

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


def test_the_settings_table_is_that_of_todays_yaml_entries():
    """docs/design/one_setting.md shows what ``benchmarks/diagnostics/entry_settings.py`` prints for today's YAMLs."""
    import contextlib
    import io
    import runpy

    script = PAGES.parents[1] / "benchmarks" / "diagnostics" / "entry_settings.py"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        runpy.run_path(str(script), run_name="__main__")
    table = printed.getvalue()
    assert table.count("\n") >= 8 and "| LunarLander-v3 |" in table
    assert table in (PAGES.parent / "design" / "one_setting.md").read_text(), "rerun the script and paste its table"
