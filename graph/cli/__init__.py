"""The command line: `trex run`, `resume`, `report`, `tasks`, with its live progress and review prompt."""
