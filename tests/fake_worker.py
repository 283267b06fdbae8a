"""A stand-in worker for launcher tests: misbehaves on request (raise, hang, exit silently)."""
import json
import sys
import time
from pathlib import Path

job = json.loads(Path(sys.argv[1]).read_text())
behaviour = job["behaviour"]
if behaviour == "raise":
    raise RuntimeError("boom in the worker")
if behaviour == "hang":
    time.sleep(60)
if behaviour == "oom_killed":  # what the kernel's out-of-memory killer does to a process
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
if behaviour == "ok":
    (Path(job["out_dir"]) / "result.json").write_text(json.dumps({"status": "ok", "score": 0.5}))
if behaviour == "garbled":  # a result file cut short
    (Path(job["out_dir"]) / "result.json").write_text('{"status": "ok", "sco')
# "silent": exit 0 without a result
