"""The README and the docs stay a front door that leads somewhere: every relative link points at a file (and a
heading) that exists, no link leaves the repository, and the README stays short."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 260

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target) and ![alt](target)
AUTOLINK = re.compile(r"<(https?://[^>]+)>")
BARE_URL = re.compile(r"https?://\S+")


def pages() -> list[Path]:
    found = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").rglob("*.md")),
             *sorted((REPO / "benchmarks").rglob("README.md"))]
    return [p for p in found if p.is_file()]


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code: a URL in a command is not a link."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a page: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in prose(page.read_text(encoding="utf-8")).splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    # Inline code in a heading counts too (prose() dropped it): take headings from the raw text as well.
    for line in page.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def links(page: Path) -> list[str]:
    return LINK.findall(prose(page.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_an_existing_file(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # a scheme: the test below refuses it
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif not dest.resolve().is_relative_to(REPO):
            broken.append(f"{target} (outside the repository)")
        elif anchor and dest.suffix == ".md" and anchor.lower() not in anchors(dest):
            broken.append(f"{target} (no such heading in {dest.relative_to(REPO)})")
    assert not broken, f"{page.relative_to(REPO)}: broken links: {broken}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_link_leaves_the_repository(page):
    text = prose(page.read_text(encoding="utf-8"))
    outside = [t for t in links(page) if re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]
    outside += AUTOLINK.findall(text) + BARE_URL.findall(text)
    assert not outside, f"{page.relative_to(REPO)} links outside the repository: {sorted(set(outside))}"


def test_the_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; keep it at most {README_MAX_LINES} (move detail to docs/)"


def test_the_checker_sees_a_broken_link_and_an_outside_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](missing.md) [b](https://example.org) `https://in.code` see <http://x.y>\n"
                    "```\ngit clone https://in.a.block\n```\n", encoding="utf-8")
    assert links(page) == ["missing.md", "https://example.org"]
    assert AUTOLINK.findall(prose(page.read_text())) == ["http://x.y"]
    assert "in.code" not in prose(page.read_text()) and "in.a.block" not in prose(page.read_text())
