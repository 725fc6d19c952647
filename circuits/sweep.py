"""The Monte Carlo sweep engine: N instances of a circuit from one seed, as a tidy table.

A circuit module defines ``SWEEPABLE = SweepableCircuit(name, measure, default_settings,
timeout_s, figures)``; ``measure(seed, instance, settings) -> dict[str, float]`` builds
and simulates Monte Carlo instance ``instance`` (its mismatch drawn from
``np.random.default_rng([seed, instance])``) and returns its measurements.

:func:`run_sweep` runs every instance in recycled child processes
(:mod:`~anamorph.circuits.sweep_worker`) or, with ``scheduler=ADDRESS``, as one Dask task
per instance on a distributed cluster; both paths build rows with the same code, so the
tables are identical. The table has one row per instance, sorted by instance: ``instance,
seed, corner, status ("ok" | "failed" | "timeout"), error, settings`` (JSON of the
settings used) and one float column per measurement.

Finished rows are appended to a journal (``DIR/.sweep-journal/rows-*.parquet``, each
written atomically) every few seconds; ``resume=True`` reruns only the instances missing
from it, so a killed sweep is completed without repeating or losing rows. The final
``DIR/sweep.parquet`` and ``DIR/manifest.json`` are written atomically, then the
journal is removed.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from anamorph import io
from anamorph.circuits import sweep_worker
from anamorph.errors import InputError

META_COLUMNS = ("instance", "seed", "corner", "status", "error", "settings")
JOURNAL = ".sweep-journal"
FLUSH_EVERY_S = 2.0
#: a Dask scheduler address: ``[tcp|tls|ws|wss://]host[:port]``
_DASK_ADDRESS = re.compile(
    r"(?:(?:tcp|tls|ws|wss)://)?[\w.\-]+(?::\d{1,5})?|(?:(?:tcp|tls|ws|wss)://)?\[[0-9a-fA-F:]+\](?::\d{1,5})?"
)


@dataclass(frozen=True)
class SweepableCircuit:
    """A circuit the sweep engine can run.

    Attributes
    ----------
    name : str
        Registry name (``"lif"``).
    measure : callable
        ``measure(seed, instance, settings) -> dict[str, float]``; a module-level function
        (it is pickled by reference into worker processes).
    default_settings : mapping
        Settings used when the caller gives none; ``"corner"`` names the process corner.
    timeout_s : float
        Wall-clock limit per instance (a worker's start-up, which loads libngspice and
        the circuit's module, does not count).
    figures : callable, optional
        ``figures(table, out_dir) -> list[Path]``: circuit-specific plots.
    """

    name: str
    measure: Callable[[int, int, dict], dict]
    default_settings: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 120.0
    figures: Callable | None = None


def make_row(seed: int, instance: int, settings: Mapping, result: tuple[str, dict, str]) -> dict:
    """One table row from a worker's ``(status, values, error)``."""
    status, values, error = result
    row = {
        "instance": int(instance),
        "seed": int(seed),
        "corner": str(settings.get("corner", "tt")),
        "status": status,
        "error": error,
        "settings": json.dumps(dict(settings), sort_keys=True, default=str),
    }
    row.update({k: float(v) for k, v in values.items()})
    return row


def resolve_settings(circuit: SweepableCircuit, settings: Mapping | None) -> dict:
    """Defaults overlaid with ``settings``; an unknown key is an InputError."""
    merged = dict(circuit.default_settings)
    for key, value in (settings or {}).items():
        if key not in merged:
            raise InputError(
                f"unknown setting {key!r} for circuit {circuit.name!r} (known: {', '.join(sorted(merged))})",
                field=key,
            )
        merged[key] = value
    merged.setdefault("corner", "tt")
    return merged


def tidy_table(rows: list[dict]) -> pd.DataFrame:
    """Rows sorted by instance; meta columns first, measurements in first-seen order."""
    rows = sorted(rows, key=lambda r: r["instance"])
    measures: dict[str, None] = {}
    for r in rows:
        measures.update(dict.fromkeys(k for k in r if k not in META_COLUMNS))
    table = pd.DataFrame.from_records(rows, columns=[*META_COLUMNS, *measures])
    table["instance"] = table["instance"].astype("int64")
    table["seed"] = table["seed"].astype("int64")
    for col in measures:
        table[col] = table[col].astype("float64")
    return table.reset_index(drop=True)


class _Journal:
    """Finished rows, flushed to atomically written Parquet chunks."""

    def __init__(self, out_dir: Path, spec: dict, resume: bool):
        self.dir = out_dir / JOURNAL
        spec_path = self.dir / "spec.json"
        if resume and spec_path.is_file():
            old = io.read_json(spec_path)
            if old != spec:
                raise InputError(
                    "resuming with different circuit, seed, instances or settings "
                    f"than the interrupted sweep ({old})",
                    out_dir,
                    "resume",
                )
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            io.write_json(spec_path, spec)
        self.rows = [
            r for p in sorted(self.dir.glob("rows-*.parquet")) for r in pd.read_parquet(p).to_dict("records")
        ]
        self.rows = [
            {k: v for k, v in r.items() if not (k not in META_COLUMNS and pd.isna(v))} for r in self.rows
        ]
        self.pending: list[dict] = []
        self.n_chunks = len(list(self.dir.glob("rows-*.parquet")))
        self.last_flush = time.monotonic()

    def add(self, row: dict) -> None:
        self.pending.append(row)
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            chunk = tidy_table(self.pending)
            path = self.dir / f"rows-{self.n_chunks:06d}-{os.getpid()}.parquet"
            io.write_with(path, lambda p: chunk.to_parquet(p, index=False), suffix=".parquet")
            self.n_chunks += 1
            self.rows.extend(self.pending)
            self.pending = []
        self.last_flush = time.monotonic()


def _progress(total: int, initial: int, name: str):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=f"sweep {name}", unit="inst", disable=not sys.stderr.isatty()
    )


def _run_local(circuit, seed, todo, settings, workers, max_tasks, on_row) -> None:
    preload = getattr(circuit.measure, "__module__", None)
    pool = [sweep_worker.Worker(max_tasks, preload) for _ in range(max(1, min(workers, len(todo))))]
    queue = list(reversed(todo))
    try:
        while queue or any(w.busy for w in pool):
            for w in pool:
                if not w.busy and queue:
                    k = queue.pop()
                    w.submit(k, (circuit, seed, k, settings), circuit.timeout_s)
            busy = [w for w in pool if w.busy]
            wait = max(min(w.deadline for w in busy) - time.monotonic(), 0.0)
            ready, _, _ = select.select(busy, [], [], wait)
            for w in ready:
                k = w.task_id
                on_row(make_row(seed, k, settings, w.result()))
            now = time.monotonic()
            for w in pool:
                if w.busy and w.deadline <= now and w not in ready:
                    k = w.task_id
                    w.kill()
                    on_row(
                        make_row(
                            seed, k, settings, ("timeout", {}, f"no result within {circuit.timeout_s:g} s")
                        )
                    )
    finally:
        for w in pool:
            w.kill() if w.busy else w.close()


def check_scheduler(address) -> None:
    """Refuse a ``scheduler`` that is neither a Dask address (``tcp://host:port``) nor a Client."""
    if isinstance(address, str) and not _DASK_ADDRESS.fullmatch(address):
        raise InputError(
            f"not a Dask scheduler address (tcp://host:port), got {address!r}", field="scheduler"
        )


@contextmanager
def dask_client(address):
    """A ``distributed.Client`` connected to the scheduler at ``address`` only (or ``address``
    itself when it is a Client, left open); closed on exit. Shared by every ``--scheduler``."""
    from distributed import Client

    check_scheduler(address)
    try:  # only a client: it connects to ``address`` and listens on no port of its own
        client = address if isinstance(address, Client) else Client(address, timeout="30s")
    except (OSError, ValueError) as e:
        raise InputError(f"cannot reach the Dask scheduler ({e})", address, "scheduler") from None
    try:
        yield client
    finally:
        if client is not address:
            client.close()


def _run_dask(circuit, seed, todo, settings, address, max_tasks, on_row) -> None:
    from distributed import as_completed

    with dask_client(address) as client:
        futures = {
            client.submit(
                sweep_worker.run_isolated,
                (circuit, seed, k, settings),
                circuit.timeout_s,
                max_tasks,
                pure=False,
                key=f"{circuit.name}-{seed}-{k}-{os.getpid()}-{time.time_ns()}",
            ): k
            for k in todo
        }
        for fut in as_completed(futures):
            k = futures[fut]
            try:
                result = fut.result()
            except Exception as e:  # the task itself (not the circuit) failed on the cluster
                result = ("failed", {}, f"dask task failed: {type(e).__name__}: {e}")
            on_row(make_row(seed, k, settings, result))


def run_sweep(
    circuit: SweepableCircuit,
    instances: int,
    seed: int,
    out_dir,
    workers: int | None = None,
    scheduler=None,
    resume: bool = False,
    settings: Mapping | None = None,
    max_tasks_per_child: int = 20,
    figures: bool = True,
) -> pd.DataFrame:
    """Run (or finish, with ``resume``) a Monte Carlo sweep and write ``out_dir/sweep.parquet``.

    Parameters
    ----------
    circuit : SweepableCircuit
    instances, seed : int
        Instances ``0 .. instances-1``, instance ``k`` seeded by ``[seed, k]``.
    out_dir : path
        Receives ``sweep.parquet``, ``manifest.json`` and histogram PNGs.
    workers : int, optional
        Local worker processes (default: the number of CPUs).
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``tcp://host:8786``): one task per instance there.
    resume : bool
        Keep the rows an interrupted sweep in ``out_dir`` already finished.
    settings : mapping, optional
        Overrides of ``circuit.default_settings``.
    max_tasks_per_child : int
        Instances a worker process runs before it is replaced.

    Returns
    -------
    pandas.DataFrame
        The tidy table, one row per instance, sorted by instance.
    """
    if not isinstance(instances, int) or isinstance(instances, bool) or instances <= 0:
        raise InputError(f"must be a positive integer, got {instances!r}", field="instances")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"must be a non-negative integer, got {seed!r}", field="seed")
    if workers is not None and workers < 1:
        raise InputError(f"must be at least 1, got {workers!r}", field="workers")
    if isinstance(scheduler, str) and not _DASK_ADDRESS.fullmatch(scheduler):
        raise InputError(
            f"not a Dask scheduler address (tcp://host:port), got {scheduler!r}", field="scheduler"
        )
    settings = resolve_settings(circuit, settings)
    out_dir = io.ensure_writable_dir(out_dir)
    spec = {
        "circuit": circuit.name,
        "seed": seed,
        "instances": instances,
        "settings": json.loads(json.dumps(settings, sort_keys=True, default=str)),
    }
    if resume and not (out_dir / JOURNAL / "spec.json").is_file() and (out_dir / "sweep.parquet").is_file():
        manifest = io.read_json(out_dir / "manifest.json") if (out_dir / "manifest.json").is_file() else {}
        if {k: manifest.get(k) for k in ("circuit", "instances", "settings")} == {
            k: spec[k] for k in ("circuit", "instances", "settings")
        } and manifest.get("seeds", {}).get("sweep") == seed:
            return read_sweep(out_dir)  # already complete
    journal = _Journal(out_dir, spec, resume)
    done = {r["instance"] for r in journal.rows}
    todo = [k for k in range(instances) if k not in done]
    bar = _progress(instances, len(done), circuit.name)

    def on_row(row):
        journal.add(row)
        bar.update(1)

    try:
        if todo and scheduler is None:
            _run_local(
                circuit, seed, todo, settings, workers or os.cpu_count() or 1, max_tasks_per_child, on_row
            )
        elif todo:
            _run_dask(circuit, seed, todo, settings, scheduler, max_tasks_per_child, on_row)
    finally:
        journal.flush()
        bar.close()
    table = tidy_table(journal.rows)
    io.write_with(out_dir / "sweep.parquet", lambda p: table.to_parquet(p, index=False), suffix=".parquet")
    io.write_manifest(
        out_dir,
        seeds={"sweep": seed},
        extra={
            "circuit": circuit.name,
            "instances": instances,
            "settings": spec["settings"],
            "status_counts": table["status"].value_counts().to_dict(),
            "scheduler": scheduler if scheduler is None or isinstance(scheduler, str) else "dask client",
        },
    )
    if figures:
        from anamorph.circuits import figures as figs

        figs.histograms(table, out_dir)
        if circuit.figures is not None:
            circuit.figures(table, out_dir)
    shutil.rmtree(journal.dir, ignore_errors=True)
    return table


def read_sweep(path) -> pd.DataFrame:
    """Read ``sweep.parquet`` (a file or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "sweep.parquet"
    if not path.is_file():
        raise InputError("no sweep table here", path)
    return pd.read_parquet(path)
