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


WITHOUT_BENCHMARK = """
import importlib.abc, sys

class NoBenchmark(importlib.abc.MetaPathFinder):  # as if only the product were installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ftbench", "benchmarks"):
            raise ImportError(f"the product looked for {name}")

sys.meta_path.insert(0, NoBenchmark())
from graph.cli.commands import main
from tools.data.spec_loading import load_spec
from tools.data.task_catalog import DEFAULT_TASK, resolve_task
from tools.research.dataset_search import shipped_datasets

spec = load_spec(resolve_task(DEFAULT_TASK))
print(spec.name, len(spec.data), sorted({d["path"].rsplit("/", 1)[-1] for d in shipped_datasets()}))
main(["tasks"])
"""


def test_the_product_finds_its_default_task_and_catalog_without_the_benchmark():
    """The default task, the shipped tasks and the dataset catalog are the product's own package data: nothing of
    ftbench/ or benchmarks/ is imported or even looked up (an import hook refuses both)."""
    done = subprocess.run([sys.executable, "-c", WITHOUT_BENCHMARK], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    first, *tasks = done.stdout.splitlines()
    assert first.startswith("bank_intents 1 ") and "support_queues_pool.jsonl" in first and "bank_intents.jsonl" in first
    assert tasks[0].startswith("bank_intents ") and len(tasks) == 7
