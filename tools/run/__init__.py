"""Run bookkeeping: what a run has spent, its budget caps, and its live progress events."""
