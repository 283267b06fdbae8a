"""The training child process (`python -m tools.worker.train_worker JOB.json`): model loading, backends,
the training loop and scoring. Its folder boundary is the process boundary: the parent names it, never imports it."""
