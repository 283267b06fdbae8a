"""The default trial runner: each training or scoring job runs in a worker process (or a Ray task, as
Context.trial_executor says), through the trial cache (tools/trials/trial_jobs.py)."""
from __future__ import annotations

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.trials.trial_jobs import run_scoring, run_training
from tools.trials.trial_pool import JobLauncher, run_job
from trex.results import EvalResult, TrainResult, TrialRunner


class JobRunner:
    """TrialRunner over tools.trials.trial_jobs. chat: the run's chat model, which the recipe steps that call one
    (synthesis, judge, label mapping) use. launch: how each worker job runs (trial_pool.JobLauncher; default
    run_job: a worker process or a Ray task); a test passes a stand-in worker here (docs/seams.md)."""

    def __init__(self, chat: ChatSource = DEFAULT_CHAT, launch: JobLauncher = run_job):
        self.chat, self.launch = chat, launch

    def train(self, spec, data: dict, cfg: dict, ctx, init: tuple[str, str] | None = None,
              pause_after: int = 0) -> TrainResult:
        return TrainResult.from_job(run_training(spec, data, cfg, ctx, init, self.chat, launch=self.launch,
                                                 pause_after=pause_after))

    def score(self, spec, data: dict, cfg: dict, adapter: str | None, train_key: str, split: str, ctx,
              job_dir, max_examples: int | None) -> EvalResult:
        return EvalResult.from_job(run_scoring(spec, data, cfg, adapter, train_key, split, ctx, job_dir, max_examples,
                                               launch=self.launch))


def default_runner(chat: ChatSource = DEFAULT_CHAT) -> TrialRunner:
    return JobRunner(chat)
