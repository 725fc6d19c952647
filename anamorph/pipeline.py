"""Run named stages in order into one folder, skipping the ones already finished.

A stage is finished when ``DIR/stages/<name>.json`` exists: the stage's summary, written
atomically after all its outputs. A run killed midway and started again with the same
folder continues at the first unfinished stage (the stages themselves resume their own
partial work where they can, e.g. a sweep's journal or a training checkpoint).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anamorph.io import read_json, write_json


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    run: Callable[[Path], dict[str, Any]]  # out_dir -> summary (JSON-able), with a "line" entry


def run_stages(stages: list[Stage], out_dir: Path, log=None) -> dict[str, dict[str, Any]]:
    """Run ``stages`` into ``out_dir`` and return every stage's summary by name."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    done_dir = out_dir / "stages"
    summaries = {}
    for k, stage in enumerate(stages, 1):
        marker = done_dir / f"{stage.name}.json"
        if marker.is_file():
            summaries[stage.name] = read_json(marker)
            log(f"[{k}/{len(stages)}] {stage.title}: done earlier - {summaries[stage.name].get('line', '')}")
            continue
        log(f"[{k}/{len(stages)}] {stage.title} ...")
        t0 = time.perf_counter()
        summary = dict(stage.run(out_dir))
        summary["wall_s"] = round(time.perf_counter() - t0, 1)
        write_json(marker, summary)
        summaries[stage.name] = summary
        log(f"[{k}/{len(stages)}] {stage.title}: {summary.get('line', 'done')} ({summary['wall_s']:.0f} s)")
    return summaries
