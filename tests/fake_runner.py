"""A TrialRunner built from plain job functions, for tests that put the trainer or the scorer in a chosen state
(passed to a node or to graph.main.build_graph(runner=...), never patched in); and a launcher whose workers run a
stand-in module, for tests that keep TREX's own trial jobs but not its training process."""
from __future__ import annotations

from tools.trials.runner import JobRunner
from tools.trials.trial_pool import JobLauncher, run_job
from trex.results import EvalResult, TrainResult


def launcher(module: str) -> JobLauncher:
    """The real launcher (trial_pool.run_job: a process per job, or a kept worker), each worker running `module`
    (tests/sleepy_worker.py, tests/fake_worker.py) instead of tools.worker.train_worker. Pass it as
    JobRunner(launch=...) or as trial_jobs.run_training / run_scoring(..., launch=...)."""
    return lambda job, job_dir, timeout_s: run_job(job, job_dir, timeout_s, module)


class FakeRunner:
    """train(spec, data, cfg, ctx, init) and score(spec, data, cfg, adapter, key, split, ctx, job_dir,
    max_examples) return job dicts (as a worker does); the missing one runs for real."""

    def __init__(self, train=None, score=None):
        self._train, self._score, self._real = train, score, JobRunner()

    def train(self, spec, data, cfg, ctx, init=None, pause_after: int = 0) -> TrainResult:
        """A stand-in train function cannot pause: its trials finish (pause_after reaches only a real one)."""
        if self._train is None:
            return self._real.train(spec, data, cfg, ctx, init, pause_after)
        return TrainResult.from_job(self._train(spec, data, cfg, ctx, init))

    def score(self, spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples) -> EvalResult:
        if self._score is None:
            return self._real.score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples)
        return EvalResult.from_job(self._score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples))
