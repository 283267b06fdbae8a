"""The Researcher's knowledge: literature notes, dataset search, the research brief, insight distillation."""
