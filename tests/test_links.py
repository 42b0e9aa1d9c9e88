"""Every relative link of README.md and docs/**/*.md points to a file of the repository (and to a heading there)."""

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: ``[text](target)`` and ``![alt](target)``, with an optional title after the target
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\s*\)")
#: ``[label]: target`` (reference definitions)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
SKIPPED_SCHEMES = ("http://", "https://", "mailto:")


def markdown_files() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [path for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))] if path.is_file()]


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code (their brackets are not links); line numbers kept."""
    lines, in_fence = [], None
    for line in text.splitlines():
        fence = FENCE.match(line)
        if in_fence is None and fence:
            in_fence = fence.group(1)
            lines.append("")
        elif in_fence is not None:
            if fence and fence.group(1) == in_fence:
                in_fence = None
            lines.append("")
        else:
            lines.append(INLINE_CODE.sub("", line))
    return "\n".join(lines)


def links(text: str) -> list[tuple[int, str]]:
    """The link targets of a Markdown text, with their line numbers."""
    text = prose(text)
    found = []
    for pattern in (INLINE_LINK, REFERENCE_DEFINITION):
        for match in pattern.finditer(text):
            found.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return sorted(found)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation removed, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = [
        char
        for char in text
        if char in " -_" or unicodedata.category(char)[0] in ("L", "N") or unicodedata.category(char) == "Mn"
    ]
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's ``-1``, ``-2`` suffixes for repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    for line in prose(path.read_text(encoding="utf-8")).splitlines():
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def git_ignored(paths: list[Path]) -> set[Path]:
    """Those of ``paths`` that git ignores (files on disk that the repository does not ship); none outside git."""
    if not paths:
        return set()
    try:
        result = subprocess.run(
            ["git", "check-ignore", "--stdin"],
            cwd=ROOT,
            input="\n".join(str(path) for path in paths),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    if result.returncode not in (0, 1):  # 128: not a git checkout
        return set()
    return {Path(line).resolve() for line in result.stdout.splitlines() if line}


def broken_links(files: list[Path]) -> list[str]:
    """``"FILE:LINE: TARGET (why)"`` for every relative link of ``files`` that points nowhere."""
    problems, checked = [], []
    for path in files:
        for line, target in links(path.read_text(encoding="utf-8")):
            if target.startswith(SKIPPED_SCHEMES):
                continue
            where = f"{path.relative_to(ROOT)}:{line}: {target}"
            file_part, _, anchor = target.partition("#")
            linked = path if not file_part else (path.parent / file_part).resolve()
            if not linked.exists():
                problems.append(f"{where} (no such file)")
                continue
            try:
                linked.relative_to(ROOT)
            except ValueError:
                problems.append(f"{where} (outside the repository)")
                continue
            if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{where} (no heading with the anchor #{anchor})")
                continue
            checked.append((where, linked))
    ignored = git_ignored([linked for _, linked in checked])
    problems += [f"{where} (ignored by git: not in the repository)" for where, linked in checked if linked in ignored]
    return problems


def test_github_slugs():
    assert github_slug("The hovering failure: what causes it, and the fix") == (
        "the-hovering-failure-what-causes-it-and-the-fix"
    )
    assert github_slug("The command outside `learn()`") == "the-command-outside-learn"
    assert github_slug("Box actions: LunarLanderContinuous-v3 and Pendulum-v1") == (
        "box-actions-lunarlandercontinuous-v3-and-pendulum-v1"
    )
    assert github_slug("What was tried, what it gave") == "what-was-tried-what-it-gave"
    assert github_slug("[RCPA](rcpa.md) results") == "rcpa-results"


def test_links_are_found_outside_code_only():
    text = "see [a](a.md) and ![b](img/b.png 'title')\n`[c](c.md)`\n```\n[d](d.md)\n```\n[e]: e.md\n[f](#top)"
    assert links(text) == [(1, "a.md"), (1, "img/b.png"), (6, "e.md"), (7, "#top")]


def test_a_broken_link_is_reported(tmp_path):
    page = ROOT / "docs" / f"_links_test_{tmp_path.name}.md"
    page.write_text(
        "# Title\n\n[fine](#title) [fine too](../README.md) [web](https://example.com)\n"
        "[missing](no_such_file.md) [bad anchor](#no-such-heading)\n",
        encoding="utf-8",
    )
    try:
        problems = broken_links([page])
    finally:
        page.unlink()
    assert sorted(problem.split(": ", 1)[1] for problem in problems) == [
        "#no-such-heading (no heading with the anchor #no-such-heading)",
        "no_such_file.md (no such file)",
    ]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_point_to_files_of_the_repository(path):
    assert broken_links([path]) == []
