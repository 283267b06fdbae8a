"""The tuned model a run leaves behind: its manifest, `load_tuned` to predict with it, and `trex export`."""
from tools.export.tuned_model import TunedModel, load_tuned

__all__ = ["TunedModel", "load_tuned"]
