"""A dataset's licence and terms as data: what they let a user do (train on it, use it commercially), so
TREX can refuse to train on data whose terms forbid it and tell the user of a tuned model what it carries."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DataLicence(BaseModel):
    """The terms a dataset is published under: what it lets a user do with it, not only its name."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(min_length=1, description="SPDX id or the publisher's own name, e.g. 'CC-BY-4.0'.")
    url: str | None = Field(None, description="Where the licence or terms are stated.")
    training: bool = Field(True, description="False: the terms forbid training on this data (it can still be "
                                             "test data: scoring a model on it is evaluation).")
    commercial: bool = Field(True, description="False: non-commercial use only (shown by `trex tasks` and in "
                                               "the report, so a tuned model's user knows).")
    terms: str = Field("", description="The terms in a sentence, with the restriction that matters.")

    def summary(self) -> str:
        limits = [w for w, ok in (("no training", self.training), ("non-commercial", self.commercial)) if not ok]
        return self.name + (f" ({', '.join(limits)})" if limits else "")

    def forbids_training(self, what: str) -> str | None:
        """The refusal to train on `what`, or None when the terms allow it."""
        if self.training:
            return None
        return (f"the terms of {self.name} forbid training on {what}" + (f" ({self.terms})" if self.terms else "")
                + "; it may be scored as test data, not trained on")
