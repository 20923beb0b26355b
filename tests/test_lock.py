"""The lock (requirements/*.lock, written by scripts/lock.sh) is what is installed, it satisfies pyproject.toml's
ranges, the libraries that break their APIs have an upper bound, and scripts/lockfile.py reads it right."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from scripts.lockfile import APP_LOCK, canonical, diff, pins

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "lockfile.py"
LABELSTUDIO_LOCK = REPO / "requirements" / "labelstudio.lock"
BUILT_FROM_SOURCE = {"llama-cpp-python"}  # scripts/setup_llm.sh, not bootstrap
BREAKING = {"openai", "httpx", "transformers", "sentence-transformers", "peft", "streamlit", "sqlalchemy",
            "label-studio-sdk", "llama-cpp-python", "torch"}


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["test"], *extras["llm"]]]


def lockfile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    wrong = []
    for name, locked in pins(APP_LOCK.read_text()).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            if name in BUILT_FROM_SOURCE:
                continue
            installed = "(missing)"
        if installed != locked:
            wrong.append(f"{name}: installed {installed}, locked {locked}")
    assert not wrong, "run bash scripts/bootstrap.sh: " + "; ".join(wrong)


def test_the_lock_satisfies_every_range_in_pyproject() -> None:
    locked = pins(APP_LOCK.read_text())
    outside = [f"{r.name}{r.specifier} locked at {locked.get(canonical(r.name))}" for r in requirements()
               if canonical(r.name) not in locked or not r.specifier.contains(locked[canonical(r.name)], prereleases=True)]
    assert not outside, "pyproject.toml changed without bash scripts/lock.sh: " + "; ".join(outside)


def test_libraries_that_break_their_apis_are_bounded_above() -> None:
    bounded = {canonical(r.name) for r in requirements()
               if any(spec.operator in ("<", "==", "~=") for spec in r.specifier)}
    assert BREAKING <= bounded, f"no upper bound: {sorted(BREAKING - bounded)}"


def test_the_label_studio_venv_holds_its_lock() -> None:
    python = REPO / ".venv-labelstudio" / "bin" / "python"
    if not python.exists():
        pytest.skip("Label Studio venv not installed (bash scripts/setup_labelstudio.sh)")
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'), "
                           "m.version('label-studio-sdk'))"], capture_output=True, text=True, check=True)
    locked = pins(LABELSTUDIO_LOCK.read_text())
    assert done.stdout.split() == [locked["label-studio"], locked["label-studio-sdk"]]


LOCK = """#
# header comment
#
alpha==1.0 \\
    --hash=sha256:aaa \\
    --hash=sha256:bbb
    # via beta
llama-cpp-python==0.3.36 \\
    --hash=sha256:ccc
    # via lumicrs-studio (pyproject.toml)
Zeta_Pkg==2.0+cpu \\
    --hash=sha256:ddd

# The following packages are considered to be unsafe in a requirements file:
pip==26.3 \\
    --hash=sha256:eee
"""


def test_lockfile_reads_versions_blocks_and_moves(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(LOCK)
    assert pins(LOCK) == {"alpha": "1.0", "llama-cpp-python": "0.3.36", "zeta-pkg": "2.0+cpu", "pip": "26.3"}
    assert lockfile("version", "zeta.pkg", "--lock", str(lock)).stdout == "2.0+cpu\n"
    without = lockfile("without", "llama_cpp_python", "--lock", str(lock)).stdout
    assert "llama" not in without and "ccc" not in without
    assert without.count("--hash") == 4 and "alpha==1.0 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb" in without
    assert lockfile("only", "pip", "--lock", str(lock)).stdout == "pip==26.3 \\\n    --hash=sha256:eee\n"
    assert diff({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "4", "d": "5"}) == [
        "b: 2 -> 4", "c: 3 -> (absent)", "d: (absent) -> 5"]


def test_lockfile_names_what_is_missing_in_one_line(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text(LOCK)
    done = lockfile("only", "nope", "--lock", str(lock))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"{lock}: nope not in the lock; refresh it with: bash scripts/lock.sh\n"
    gone = lockfile("version", "alpha", "--lock", str(tmp_path / "absent.lock"))
    assert gone.returncode == 2 and gone.stderr.startswith(f"{tmp_path / 'absent.lock'}: cannot read the lock")
