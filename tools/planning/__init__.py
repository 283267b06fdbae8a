"""Planning a round: the built-in planner, the LLM planner, bounds on proposed configs, diagnosis."""
