"""The README and docs/: a short README, links that resolve, and every report file a figure cites committed."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = re.compile(r"\breports/[A-Za-z0-9_.-]+\.(?:json|txt|log|csv|png)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def tracked() -> set[str]:
    done = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.splitlines())


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_every_report_file_the_docs_cite_is_committed() -> None:
    files = tracked()
    missing = sorted({f"{page.name}: {path}" for page in pages() for path in REPORT.findall(page.read_text())
                      if path not in files})
    assert not missing, missing


def test_every_link_in_the_docs_resolves() -> None:
    broken = []
    for page in pages():
        for target in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_report_pattern_sees_a_citation() -> None:
    assert REPORT.findall("see reports/seeds-redial.json and reports/routing.txt.") == [
        "reports/seeds-redial.json", "reports/routing.txt"]


def test_no_page_cites_figures_from_a_report_that_was_not_kept() -> None:
    """Figures whose report was lost were marked "(figures from commit X)"; they were measured again or removed, and a
    page that cites such figures again fails here (a figure comes from a committed file under reports/)."""
    marked = [f"{page.name}: {m.group(0)}" for page in pages()
              for m in re.finditer(r"figures from commit [0-9a-f]{7}", page.read_text())]
    assert not marked, marked
