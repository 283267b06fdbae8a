"""TREX's ground floor: plain types every other package stands on (the task spec, state and tree, Context,
metrics, the trial configuration table, result types). Imports nothing else of the project."""
