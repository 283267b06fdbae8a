"""Trial orchestration: job building and cache keys, the runner, the pool, subprocess and Ray executors."""
