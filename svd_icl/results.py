"""Result files: small tables cached beside their settings, and an append-only log of sweep points.

Every table carries the settings that produced it (a JSON sidecar), so a notebook can plot saved results and
recompute only what is missing or stale.
"""

from __future__ import annotations

import json
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
