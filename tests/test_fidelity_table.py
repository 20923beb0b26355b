"""The fidelity table (docs/fidelity.md; issue 27): every row names a test that exists, so a renamed or deleted test that
pinned a formula is noticed."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fidelity_rows() -> list[str]:
    section = (ROOT / "docs" / "fidelity.md").read_text()
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| paper's")]


def test_every_row_of_the_fidelity_table_names_tests_that_exist() -> None:
    defined = {name for path in (ROOT / "tests").rglob("test_*.py")
               for name in re.findall(r"^def (test_\w+)", path.read_text(), flags=re.MULTILINE)}
    rows = fidelity_rows()
    assert len(rows) >= 25
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == 4, row
        named = re.findall(r"`(test_\w+)`", cells[2])
        assert named, f"no test named in: {cells[0]}"
        assert not [n for n in named if n not in defined], f"{cells[0]}: {[n for n in named if n not in defined]}"
