"""The default trial runner: each training or scoring job runs in a worker process (or a Ray task, as
Context.trial_executor says), through the trial cache (tools/trials/trial_jobs.py)."""
from __future__ import annotations

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.trials import trial_jobs
from trex.results import EvalResult, TrainResult, TrialRunner


class JobRunner:
    """TrialRunner over tools.trials.trial_jobs (looked up at call time, so a test can swap a job function).
    chat: the run's chat model, which the recipe steps that call one (synthesis, judge, label mapping) use."""

    def __init__(self, chat: ChatSource = DEFAULT_CHAT):
        self.chat = chat

    def train(self, spec, data: dict, cfg: dict, ctx, init: tuple[str, str] | None = None) -> TrainResult:
        return TrainResult.from_job(trial_jobs.run_training(spec, data, cfg, ctx, init, self.chat))

    def score(self, spec, data: dict, cfg: dict, adapter: str | None, train_key: str, split: str, ctx,
              job_dir, max_examples: int | None) -> EvalResult:
        return EvalResult.from_job(trial_jobs.run_scoring(spec, data, cfg, adapter, train_key, split, ctx, job_dir,
                                                          max_examples))


def default_runner(chat: ChatSource = DEFAULT_CHAT) -> TrialRunner:
    return JobRunner(chat)
