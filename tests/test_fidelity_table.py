"""The fidelity table (docs/fidelity.md; issues 27 and 49): every row names tests that exist, its one-line-mutation
column is what scripts/fidelity_mutations.py last measured (reports/fidelity-mutations.json), and every mutant the
script makes still finds its line, so a renamed test or a rewritten formula is noticed."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def fidelity_rows() -> list[list[str]]:
    section = (ROOT / "docs" / "fidelity.md").read_text()
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| paper's")]


def mutation_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fidelity_mutations", ROOT / "scripts" / "fidelity_mutations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_row_of_the_fidelity_table_names_tests_that_exist() -> None:
    defined = {name for path in (ROOT / "tests").rglob("test_*.py")
               for name in re.findall(r"^def (test_\w+)", path.read_text(), flags=re.MULTILINE)}
    rows = fidelity_rows()
    assert len(rows) >= 40
    for cells in rows:
        assert len(cells) == 5, cells[0]
        named = re.findall(r"`(test_\w+)`", cells[2])
        assert named, f"no test named in: {cells[0]}"
        assert not [n for n in named if n not in defined], f"{cells[0]}: {[n for n in named if n not in defined]}"


def test_every_row_has_its_mutants_and_the_column_is_the_reports() -> None:
    script = mutation_script()
    report = json.loads((ROOT / "reports" / "fidelity-mutations.json").read_text())["rows"]
    keys = [script.row_key(cells[0]) for cells in fidelity_rows()]
    assert len(set(keys)) == len(keys) == len(script.ROWS)  # one row per key, every key used
    for cells, key in zip(fidelity_rows(), keys, strict=True):
        assert script.ROWS[key], key
        assert [m["text"] for m in report[key]["mutants"]] == [m.text for m in script.ROWS[key]], key
        assert cells[4] == script.cell(report[key]), key


def test_every_mutant_still_finds_its_line_once() -> None:
    for key, mutants in mutation_script().ROWS.items():
        for mutant in mutants:
            source = (ROOT / mutant.file).read_text()
            assert source.count(mutant.text) == 1, f"{key}: {mutant.file}: {mutant.text!r}"
            assert mutant.replacement != mutant.text
