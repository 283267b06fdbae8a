"""A stand-in training worker for the pool, Ray and kill tests: it trains nothing, it sleeps.

Reads the job like tools.worker.train_worker (and dies with its parent the same way), writes its pid, sleeps
config["fake"]["sleep"] seconds, records when it ran in times.json, then writes an "ok" result whose
adapter is its out dir, or exits 3 when config["fake"]["fail"] is set. A job with a cache_dir (a trial's, from
tools/trials/trial_jobs.py) also appends its config["fake"] to CACHE_DIR/sleepy_started.jsonl as it starts: the
jobs a worker really ran, in a fresh or a kept process (tests/test_parallel_trials.py counts them).
"""
import json
import os
import sys
import time
from pathlib import Path

from tools.worker.train_worker import die_with_parent

STARTED = "sleepy_started.jsonl"  # tests/test_parallel_trials.py reads it (this module runs on import: not imported)

die_with_parent()
job = json.loads(Path(sys.argv[1]).read_text())
fake = (job.get("config") or {}).get("fake") or {}
out = Path(job["out_dir"])
(out / "worker.pid").write_text(str(os.getpid()))
if job.get("cache_dir"):
    with open(Path(job["cache_dir"]) / STARTED, "a", encoding="utf-8") as log:  # one short appended line
        log.write(json.dumps(fake) + "\n")
started = time.time()
time.sleep(float(fake.get("sleep", job.get("sleep", 0.5))))
ended = time.time()
(out / "times.json").write_text(json.dumps({"start": started, "end": ended, "pid": os.getpid()}))
if fake.get("fail"):
    print("fake trial failing on purpose", flush=True)
    sys.exit(3)
print("fake trial done", flush=True)
val_eval = {"status": "ok", "score": 0.5, "n": 1, "n_wrong": 0, "bad_cases": []}  # as the real job scores val
(out / "result.json").write_text(json.dumps({"status": "ok", "adapter": str(out), "val_loss": [1.0, 0.5],
                                             "train_s": round(ended - started, 3), "val_eval": val_eval}))
