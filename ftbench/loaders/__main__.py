"""`python -m ftbench.loaders TASK [--from DIR] [--cache-dir DIR]`: prepare one FT-Bench task's data, from a local
copy of the public source (a clone or download, in its own layout: no network) or, without --from, fetched online."""
from __future__ import annotations

import argparse
import json
import sys

from ftbench.loaders import MAX_TRAIN, TASKS, LoaderError, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbench.loaders", description=__doc__)
    parser.add_argument("task", choices=sorted(TASKS) + ["all"])
    parser.add_argument("--from", "--source", dest="source", metavar="DIR",
                        help="local copy of the public data (a clone or download), in its own layout; no network")
    parser.add_argument("--cache-dir", help="default: $TREX_CACHE_DIR or ~/.cache/trex")
    parser.add_argument("--max-train", type=int, default=MAX_TRAIN, help="cap on training rows (seeded sample)")
    parser.add_argument("--max-test", type=int, help="cap on hidden test rows, taken evenly from every subset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    tasks = sorted(TASKS) if args.task == "all" else [args.task]
    status = 0
    for task in tasks:
        try:
            out = prepare(task, args.cache_dir, args.source if args.task != "all" else None,
                          max_train=args.max_train, max_test=args.max_test, seed=args.seed)
            print(json.dumps({"task": task, "sizes": out["sizes"], "train": out["train"], "test": out["test"]}))
        except LoaderError as err:
            print(f"error: {task}: {err}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
