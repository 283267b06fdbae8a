"""Building a packaged base model in the cache (tools/models/base_models.py)."""
from __future__ import annotations

from pathlib import Path


def test_building_the_model_leaves_the_jobs_random_numbers_alone(tmp_path):
    """The first job on a new machine builds the model after it seeded itself: it must then draw the same
    random numbers (its LoRA initialisation) as the same job on a machine that had the model already."""
    import torch

    from tools.models.base_models import TINY, resolve_model_dir

    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    built = resolve_model_dir(TINY, tmp_path)
    assert (Path(built) / "config.json").is_file()
    assert torch.equal(torch.rand(4), expected)
