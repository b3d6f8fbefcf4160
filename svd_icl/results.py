"""Result files: small tables cached beside their settings, and an append-only log of sweep points.

Every table carries the settings that produced it (a JSON sidecar), so a notebook can plot saved results and
recompute only what is missing or stale.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def cached_table(path: str | Path, settings: dict, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Load ``path`` (CSV) if it was computed with exactly ``settings``; otherwise compute, save and return it."""
    path = Path(path)
    meta = path.with_suffix(".settings.json")
    wanted = json.dumps(settings, sort_keys=True, default=str)
    if path.exists() and meta.exists() and meta.read_text() == wanted:
        return pd.read_csv(path)
    table = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
    meta.write_text(wanted)
    return table


class ResultStore:
    """Append-only JSON-lines log of finished sweep points, durable point by point.

    Each record is flushed and fsync'ed as soon as it is written, so a killed run loses at most the point in
    flight; a half-written last line (the kill landed mid-write) is cut off before the next append. ``done()`` gives
    the keys already present, so a rerun skips them and never duplicates a point.
    """

    def __init__(self, path: str | Path, key_fields: tuple[str, ...]):
        self.path = Path(path)
        self.key_fields = key_fields

    def key(self, record: dict) -> str:
        return json.dumps([record[f] for f in self.key_fields], default=str)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the torn last line of a killed run
        return out

    def done(self) -> set[str]:
        return {self.key(r) for r in self.records()}

    def _drop_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as fh:
            data = fh.read()
            if data.endswith(b"\n"):
                return
            fh.truncate(data.rfind(b"\n") + 1)

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records())
