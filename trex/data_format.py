"""The shapes a data file may come in: one name list for the task spec's sources and the recipe's extra
sources (tools/data/data_shapes.py tells them apart and converts them)."""
from __future__ import annotations

from typing import Literal

# auto: told from the rows' keys. input_output: the input_field/output_field columns. prompt_completion: TRL's
# prompt/completion pairs. alpaca: instruction, optional input, output. messages: OpenAI-style chat turns
# ({role, content}). sharegpt: `conversations` of {from, value} turns.
DataFormat = Literal["auto", "input_output", "prompt_completion", "alpaca", "messages", "sharegpt"]
