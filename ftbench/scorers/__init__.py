"""Scoring code behind ftbench.metrics: ports of the benchmarks' own evaluators, one module per benchmark."""
