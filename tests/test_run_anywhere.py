"""Installed, TREX works from anywhere: a run started in another directory with a relative runs dir (the CLI and
the imported graph), and a run from a non-editable install of the built wheel in a fresh venv, train and score
their trials. Every path handed to a worker is absolute where it is made."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def tiny_spec_file(tiny_task: dict, where: Path) -> Path:
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}
    path = where / "tiny.yaml"
    path.write_text(yaml.safe_dump(task))
    return path


def clean_env(cache_dir: Path, **extra) -> dict:
    """The environment a user's shell would have: no PYTHONPATH pointing into the repository."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TREX_RUNS_DIR")}
    return {**env, "TREX_CACHE_DIR": str(cache_dir), "TREX_DEVICE": "cpu", "TREX_MAX_EVAL_EXAMPLES": "12", **extra}


def trained_and_scored(run_dir: Path) -> dict:
    tree = json.loads((run_dir / "tree.json").read_text())
    trial = tree["n1"]["results"]["t0"]
    assert trial["status"] == "ok" and "score" in trial, trial
    return tree


def test_the_cli_from_another_directory_with_a_relative_runs_dir(tiny_task, tmp_path, cache_dir):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = tiny_spec_file(tiny_task, elsewhere)
    trex = Path(sys.executable).parent / "trex"
    out = subprocess.run([str(trex), "run", spec.name, "--runs-dir", "rel_runs"], cwd=elsewhere,
                         env=clean_env(cache_dir), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    [run_dir] = (elsewhere / "rel_runs").iterdir()
    trained_and_scored(run_dir)
    job = json.loads(next((run_dir / "trials").rglob("job.json")).read_text())
    assert all(Path(job[k]).is_absolute() for k in ("eval_path", "out_dir") if k in job)


def test_the_imported_graph_from_another_directory_with_a_relative_runs_dir(tiny_task, tmp_path, cache_dir):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = tiny_spec_file(tiny_task, elsewhere)
    code = ("from graph.main import build_graph; from trex.context import Context; "
            f"s = build_graph().invoke({{'task': {str(spec.name)!r}}}, context=Context(runs_dir='rel_runs')); "
            "print(s['run_dir'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=clean_env(cache_dir),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    assert run_dir.is_absolute() and run_dir.parent == elsewhere / "rel_runs"
    trained_and_scored(run_dir)


def test_a_non_editable_install_of_the_wheel_runs_a_tiny_task(tiny_task, tmp_path, cache_dir):
    """The built wheel in a fresh venv: its dependencies come from this environment's site-packages (a .pth
    file; installing torch again would cost minutes), TREX itself only from the wheel."""
    dist, source = tmp_path / "dist", tmp_path / "source"
    # A copy of the checkout without build outputs: a stale build/lib would put deleted modules in the wheel.
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "runs", "*.egg-info",
                                                                "__pycache__", ".pytest_cache", ".langgraph_api"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(source)], capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail("building the wheel failed: " + build.stderr[-2000:])
    [wheel] = dist.glob("trex_finetune-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies only: the editable install's finder is a .pth of that dir, which a .pth-added path never runs.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "user"
    elsewhere.mkdir()
    spec = tiny_spec_file(tiny_task, elsewhere)
    env = clean_env(cache_dir)
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import graph, tools; print(graph.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert str(site) in where and str(REPO) not in where  # TREX from the wheel, not the checkout
    out = subprocess.run([str(venv / "bin" / "trex"), "run", spec.name, "--runs-dir", "runs"], cwd=elsewhere,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    [run_dir] = (elsewhere / "runs").iterdir()
    trained_and_scored(run_dir)
    tasks = subprocess.run([str(venv / "bin" / "trex"), "tasks"], cwd=elsewhere, env=env, capture_output=True,
                           text=True, timeout=120)
    assert "bank_intents" in tasks.stdout  # shipped tasks resolve through the installed package data
