"""Wall and CPU time of each phase of `trex export RUN --gguf` (with its check), without a profiler.

    nice -n 15 .venv/bin/python benchmarks/export/export_phases.py RUN_DIR OUT_DIR q8_0|f16

Runs tools.export.export.export_tuned as `trex export RUN_DIR --out OUT_DIR --gguf --quant QUANT` does (OUT_DIR
is removed first) and wraps the functions each phase calls with a timer; prints one PHASE line per call and the
load average at the end. The numbers are in benchmarks/export/README.md.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

T0, C0 = time.perf_counter(), time.process_time()
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
ROWS: list[tuple[str, float, float]] = []


def timed(module, name: str, label: str) -> None:
    """Replace module.name by a wrapper that records each call's wall and CPU seconds under `label`."""
    inner = getattr(module, name)

    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            ROWS.append((label, time.perf_counter() - wall, time.process_time() - cpu))

    setattr(module, name, wrapper)


def main(run_dir: str, out: str, quant: str) -> None:
    import gguf  # noqa: F401
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import tools.export.export as export
    import tools.export.export_check as check
    import tools.export.gguf_export as gguf_export
    import tools.export.tuned_model as tuned_model

    ROWS.append(("imports (torch, transformers, peft, gguf)", time.perf_counter() - T0, time.process_time() - C0))
    timed(tuned_model, "load_model_and_tokenizer", "load base + adapter, merge")
    timed(check, "predictions", "score the probe rows")
    timed(gguf_export, "write_gguf", "write the GGUF")
    timed(gguf_export, "load_gguf", "read the GGUF back (transformers)")
    shutil.rmtree(out, ignore_errors=True)
    export.export_tuned(run_dir, out, gguf=quant)
    ROWS.append(("TOTAL", time.perf_counter() - T0, time.process_time() - C0))
    for label, wall, cpu in ROWS:
        print(f"PHASE {label:42s} wall {wall:7.2f} s  cpu {cpu:7.2f} s")
    print("load average (1, 5, 15 min) at the end:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main(*sys.argv[1:4])
