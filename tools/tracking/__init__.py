"""Copies of a run's trials in the trackers users already read: Optuna storages and MLflow."""
