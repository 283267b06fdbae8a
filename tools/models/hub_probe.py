"""Can a Hugging Face hub model be had right now? Asked once before a CLI run starts, so a base model that is
not packaged, not cached and not reachable is a one-line error at once, not a failure per trial minutes later.

A GET of the Hub's model API (HF_ENDPOINT honoured, so tests serve it locally), a few seconds at most."""
from __future__ import annotations

import os
import urllib.error
import urllib.request

TIMEOUT_S = 8


def hub_model_problem(repo: str, endpoint: str | None = None, timeout: float = TIMEOUT_S) -> str | None:
    """None when the Hub answers that the model exists; else what was tried and what came back."""
    base = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    url = f"{base}/api/models/{repo}"
    headers = {"User-Agent": "trex-finetune"}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout):  # noqa: S310
            return None
    except urllib.error.HTTPError as err:
        if err.code in (401, 403, 404):
            return (f"the Hub at {base} has no model {repo!r} this machine may read (HTTP {err.code}: a wrong id, "
                    "or a gated/private model without HF_TOKEN)")
        return f"the Hub at {base} answered HTTP {err.code} for model {repo!r}"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return f"cannot reach the Hugging Face Hub at {base} ({reason}) to fetch {repo!r}"
