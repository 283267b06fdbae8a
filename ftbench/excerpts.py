"""Cut short real excerpts of a benchmark's public files, in the source's own layout, for the offline loader tests.

    python -m ftbench.excerpts lawbench --from ~/src/LawBench --out ftbench/samples/lawbench --commit e30981b

Each file named below keeps its `keep` shortest rows (in file order), so the excerpt stays small and every loader
branch still sees real rows; SOURCE.md beside them records the repository, commit, licence and what was kept.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# task -> (repository, licence, {path in the repository: rows to keep, or (rows per group, the field grouping them)})
EXCERPTS: dict[str, tuple[str, str, dict[str, int]]] = {
    "aci_bench": ("wyim/aci-bench", "CC-BY-4.0", {
        "data/challenge_data_json/train_full.json": 2, "data/challenge_data_json/valid_full.json": 1,
        "data/challenge_data_json/clinicalnlp_taskB_test1_full.json": 1,
        "data/challenge_data_json/clinicalnlp_taskC_test2_full.json": 1,
        "data/challenge_data_json/clef_taskC_test3_full.json": 1}),
    "csbench": ("csbench/csbench", "CC-BY-NC-4.0", {"data/en_test.json": (2, "Format"),  # every question format
                                                    "Dataset/CSBench-EN/valid.json": (2, "Format")}),
    "lawbench": ("open-compass/LawBench", "Apache-2.0 + source licences",
                 {f"data/zero_shot/{t}.json": 3 for t in (
                     "1-1", "1-2", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "2-10",
                     "3-1", "3-2", "3-3", "3-4", "3-5", "3-6", "3-7", "3-8")}),
    "omebench": ("skylarkie/oMeBench", "MIT", {"data/oMe_Gold.json": 3, "data/oMe_Silver.jsonl": 3}),
}


def _read(path: Path) -> tuple[list, str]:
    """The rows and the file's layout: 'array', 'lines' (JSON lines) or 'data' ({"data": [...]})."""
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return json.loads(text), "array"
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # JSON lines
    if isinstance(whole, dict) and isinstance(whole.get("data"), list):
        return whole["data"], "data"
    return [json.loads(line) for line in text.splitlines() if line.strip()], "lines"


def _write(path: Path, rows: list, layout: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout == "lines":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        text = json.dumps(rows if layout == "array" else {"data": rows}, ensure_ascii=False, indent=1) + "\n"
    path.write_text(text, encoding="utf-8")


def shortest(rows: list, keep: int | tuple[int, str]) -> list[int]:
    """Indices of the `keep` shortest rows (ties by position), or of the shortest `keep[0]` of each value of the
    field `keep[1]`, in file order."""
    per, field = keep if isinstance(keep, tuple) else (keep, None)
    order = sorted(range(len(rows)), key=lambda i: (len(json.dumps(rows[i], ensure_ascii=False)), i))
    taken: dict = {}
    picked = []
    for i in order:
        group = rows[i].get(field) if field else None
        if taken.get(group, 0) < per:
            taken[group] = taken.get(group, 0) + 1
            picked.append(i)
    return sorted(picked)


def cut(task: str, source: Path, out: Path, commit: str) -> list[str]:
    """Write the excerpt of `task` from a local copy of its repository; return the SOURCE.md lines."""
    repo, licence, files = EXCERPTS[task]
    lines = [f"# {task}: real excerpt", "", f"- repository: https://github.com/{repo}", f"- commit: {commit}",
             f"- licence: {licence}", "- kept: the shortest rows of each file (of each group, where named), in file order (`python -m "
             f"ftbench.excerpts {task} --from <clone> --out ftbench/samples/{task} --commit {commit}`)", ""]
    for rel, keep in files.items():
        path = source / rel
        if not path.is_file():
            raise FileNotFoundError(f"{source}: missing {rel}")
        rows, layout = _read(path)
        picked = shortest(rows, keep)
        _write(out / rel, [rows[i] for i in picked], layout)
        lines.append(f"- `{rel}`: rows {', '.join(str(i + 1) for i in picked)} of {len(rows)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbench.excerpts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(EXCERPTS))
    parser.add_argument("--from", dest="source", required=True, help="local clone of the task's repository")
    parser.add_argument("--out", required=True)
    parser.add_argument("--commit", required=True, help="the clone's commit, recorded in SOURCE.md")
    args = parser.parse_args(argv)
    try:
        lines = cut(args.task, Path(args.source), Path(args.out), args.commit)
    except (OSError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    (Path(args.out) / "SOURCE.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
