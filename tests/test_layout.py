"""Rooms and the one-way flow of imports (docs/layout.md), read from every import statement, function-level included.

shared ground: db (the database) at the bottom; lm (language models and the sentence encoder), charts (figures) and
calibration (the judges against the reviewers) on it; feature rooms (annotator, augment, trainer) on those, never
importing each other; streamlit_app.py and lumicrs_cli.py compose them."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("db", "lm", "charts", "calibration", "annotator", "augment", "trainer")
MAY_IMPORT = {"db": {"db"}, "lm": {"lm", "db"}, "charts": {"charts", "db"}, "calibration": {"calibration", "db"},
              "annotator": {"annotator", "db", "lm", "charts", "calibration"},
              "augment": {"augment", "db", "lm", "charts", "calibration"},
              "trainer": {"trainer", "db", "lm", "charts", "calibration"}}
HEAVY = {"torch", "transformers", "peft", "llama_cpp", "matplotlib", "sentence_transformers"}


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module the file imports (absolute imports; the project uses no relative ones)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_every_room_imports_only_what_lies_below_it() -> None:
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            crossing = (imports_of(path) & set(PACKAGES)) - MAY_IMPORT[package]
            if crossing:
                wrong.append(f"{path.relative_to(ROOT)} imports {sorted(crossing)}")
    assert not wrong, "\n".join(wrong)


def test_db_holds_the_database_only() -> None:
    """No module of db/ imports a deep-learning, LLM or plotting library: those live in lm/ and charts/."""
    heavy = {str(path.relative_to(ROOT)): sorted(imports_of(path) & HEAVY) for path in (ROOT / "db").rglob("*.py")}
    assert {path: names for path, names in heavy.items() if names} == {}


def test_the_layout_check_sees_a_crossing(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from augment.llm import OpenAIChat\n    import torch.nn as nn\n")
    assert imports_of(sample) == {"augment", "torch"}
