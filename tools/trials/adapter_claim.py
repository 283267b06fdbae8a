"""One trainer per adapter directory: two runs (or two processes) that share a cache and start the same trial
at once must not train into the same directory. The first takes an exclusive lock beside the directory and
trains; the other waits for the lock, then finds the result in the cache. Advisory locks (fcntl.flock) on the
cache's file system: the kernel releases them when a holder dies, so a crashed run never blocks the next."""
from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path


@contextlib.contextmanager
def claimed(adapter_dir: Path):
    """Hold the adapter directory's lock for the body (blocking until another holder is done)."""
    lock = Path(adapter_dir).with_name(Path(adapter_dir).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
