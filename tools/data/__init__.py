"""Data: loading and checking a task's data, splits, recipes and their operators, safe paths, shipped tasks."""
