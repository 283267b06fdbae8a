"""The import contracts in pyproject.toml hold on the code, and break when an import runs up a floor, closes a
cycle, or reaches from the product into the benchmark (lint-imports on a copy of the tree with one bad file)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["benchmarks", "ftbench", "graph", "nodes", "tools", "memory", "trex"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (test extra)")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def _copy_tree(tmp_path: Path) -> Path:
    """The Python files of every floor and the contracts, without data or caches."""
    root = tmp_path / "repo"
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package,
                        ignore=lambda d, names: [n for n in names if not n.endswith(".py") and not (Path(d) / n).is_dir()
                                                 or n == "__pycache__"])
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_repository_keeps_every_contract():
    done = _lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("path, code, contract", [
    # The ground floor reaching up to the graph.
    ("trex/upward_probe.py", "import graph.main\n", "Floors: every import points down"),
    # A product module importing the benchmark (also an arrow up, named by its own contract).
    ("tools/benchmark_probe.py", "import ftbench.space\n", "The product never imports the benchmark"),
    # Two modules of one package importing each other.
    ("tools/data/cycle_probe.py", "import tools.data.cycle_probe_back\n", "No import cycles within a package"),
])
def test_a_bad_import_breaks_its_contract(tmp_path, path, code, contract):
    root = _copy_tree(tmp_path)
    (root / path).write_text(code)
    if "cycle" in path:
        (root / "tools/data/cycle_probe_back.py").write_text("import tools.data.cycle_probe\n")
    done = _lint_imports(root)
    assert done.returncode != 0, done.stdout
    assert f"{contract} BROKEN" in " ".join(done.stdout.split()), done.stdout
