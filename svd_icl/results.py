"""Result files: small tables cached beside their settings, and an append-only log of sweep points.

Every table carries the settings that produced it (a JSON sidecar), so a notebook can plot saved results and
recompute only what is missing or stale.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from filelock import FileLock


def cached_table(path: str | Path, settings: dict, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Load ``path`` if it was computed with exactly ``settings``; otherwise compute, save and return it.

    ``.csv`` for flat tables; ``.json`` (records) keeps list-valued columns such as per-query predictions.
    """
    path = Path(path)
    as_json = path.suffix == ".json"
    meta = path.with_suffix(".settings.json")
    wanted = json.dumps(settings, sort_keys=True, default=str)
    if path.exists() and meta.exists() and meta.read_text() == wanted:
        return pd.DataFrame(json.loads(path.read_text())) if as_json else pd.read_csv(path)
    table = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    if as_json:
        tmp.write_text(table.to_json(orient="records"))
    else:
        table.to_csv(tmp, index=False)
    tmp.replace(path)
    meta.write_text(wanted)
    return table


NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"  # the checkout's notebooks (absent when installed)


def resolve_results_dir(results_dir: str | Path) -> Path:
    """Where a notebook keeps its results, whatever directory papermill was called from.

    An absolute ``results_dir`` is used as given. A relative one (the notebooks' default is ``../results``) is
    taken from ``$SVD_ICL_RESULTS`` when that is set; else from the working directory when it is a ``notebooks``
    directory (``papermill --cwd notebooks``, and the build's copies under ``build/<profile>/src/notebooks``); else
    from this checkout's ``notebooks/`` directory, so that ``papermill notebooks/fig1.ipynb out.ipynb`` called from
    the repository root (or anywhere) writes to ``<repository>/results`` and never outside the repository.
    """
    path = Path(results_dir).expanduser()
    if path.is_absolute():
        return path
    if os.environ.get("SVD_ICL_RESULTS"):
        return Path(os.environ["SVD_ICL_RESULTS"]).expanduser().resolve()
    cwd = Path.cwd()
    if cwd.name == "notebooks" or not NOTEBOOKS.is_dir():
        return (cwd / path).resolve()
    return (NOTEBOOKS / path).resolve()


FORMAT_VERSION = 2  # bump when a record's meaning changes; records of another version are never reused


def record_key(record: dict, key_fields: tuple[str, ...]) -> str:
    """The identity of a record: its ``key_fields`` values, JSON-encoded (a missing field counts as None)."""
    return json.dumps([record.get(f) for f in key_fields], default=str)


class ResultsFileError(ValueError):
    """A file that cannot serve as a results file (foreign content, another kind, unwritable)."""


@dataclass
class LoadReport:
    """What opening a results file found: its points and what was wrong with it."""

    path: Path
    points: int = 0
    duplicates: int = 0
    torn_lines_repaired: int = 0
    unknown_records: int = 0

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.points} points, {self.duplicates} duplicates ignored, "
            f"{self.torn_lines_repaired} torn lines repaired, {self.unknown_records} records of unknown format"
        )


def check_writable(path: str | Path, what: str = "--out") -> Path:
    """``path`` as a file that can be created or appended to, missing parents created; else a one-line error.

    Probed by actually creating a file (``os.access`` says yes to root on a read-only mount).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ResultsFileError(f"{what} {path} is a directory; give a file path (e.g. {path / 'results.jsonl'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ResultsFileError(f"{what} {path}: a parent of it is a file, not a directory") from None
    except OSError as exc:
        raise ResultsFileError(f"{what} {path}: cannot create its directory ({exc.strerror})") from None
    try:
        if path.exists():
            with path.open("a"):
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".svd_icl-probe-"):
                pass
    except OSError as exc:
        raise ResultsFileError(f"{what} {path}: not writable ({exc.strerror}); choose another path") from None
    return path


class ResultStore:
    """Append-only JSON-lines log of finished points, durable point by point and safe for several writers.

    - The first line is a header naming the format version and the kind of record; a file without it (a text
      file, another program's JSON) is refused before anything is appended.
    - Appends hold a file lock (``filelock``) and re-read the file's new lines under it, so a point another
      process has written meanwhile is not written twice; each record is flushed and fsync'ed.
    - A torn last line (a kill landed mid-write) is cut off whenever the file is opened for writing, and skipped
      by readers; a duplicate key keeps its first record.
    """

    def __init__(self, path: str | Path, key_fields: tuple[str, ...], kind: str = "sweep"):
        self.path = Path(path)
        self.key_fields = key_fields
        self.kind = kind
        self.lock = FileLock(str(self.path) + ".lock")
        self.report = LoadReport(self.path)
        self._keys: set[str] = set()
        self._records: list[dict] = []
        self._offset = 0
        self._header_seen = False
        self._opened = False

    def key(self, record: dict) -> str:
        return record_key(record, self.key_fields)

    def header(self) -> dict:
        return {"svd_icl_results": FORMAT_VERSION, "kind": self.kind, "key": list(self.key_fields)}

    # -- reading --------------------------------------------------------------------------------------------------
    def _is_header(self, rec: object) -> bool:
        return isinstance(rec, dict) and "svd_icl_results" in rec

    def _check_header(self, first: bytes) -> None:
        try:
            head = json.loads(first) if first.endswith(b"\n") else None  # a header line is always complete
        except (json.JSONDecodeError, UnicodeDecodeError):
            head = None
        if not self._is_header(head):
            raise ResultsFileError(
                f"{self.path} is not an svd_icl results file (its first line is not a results header); "
                "nothing was written to it: choose a new file name"
            )
        if head.get("kind") != self.kind:
            raise ResultsFileError(
                f"{self.path} holds {head.get('kind')!r} results, not {self.kind!r}; use another file"
            )

    def _read_new(self, repair: bool = False) -> None:
        """Read lines appended since the last read; with ``repair`` (lock held) cut a torn tail."""
        if not self.path.exists():
            return
        with self.path.open("rb+" if repair else "rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
            if not data:
                return
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a torn last line
                if repair:
                    fh.truncate(self._offset + end)
                    self.report.torn_lines_repaired += 1
                data = data[:end]
        for line in data.splitlines():
            if not self._header_seen:
                self._check_header(line + b"\n")
                self._header_seen = True
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                self.report.unknown_records += 1
                continue
            if self._is_header(rec):
                continue
            if (
                not isinstance(rec, dict)
                or rec.get("format") != FORMAT_VERSION
                or any(f not in rec for f in self.key_fields)
            ):
                self.report.unknown_records += 1
                continue
            k = self.key(rec)
            if k in self._keys:
                self.report.duplicates += 1
                continue
            self._keys.add(k)
            self._records.append(rec)
            self.report.points += 1
        self._offset += len(data)

    def open(self) -> LoadReport:
        """Check the file (or create it with its header) and load its points; repairs a torn tail."""
        check_writable(self.path)
        with self.lock:
            if not self.path.exists() or self.path.stat().st_size == 0:
                self._write_line(self.header(), mode="w")
            else:  # check the header before any repair could cut a foreign file
                with self.path.open("rb") as fh:
                    self._check_header(fh.readline(1 << 16))
            self._read_new(repair=True)
        self._opened = True
        return self.report

    def records(self) -> list[dict]:
        """Every valid point, first record per key (read-only: a missing file has none)."""
        self._read_new()
        return list(self._records)

    def done(self) -> set[str]:
        self.records()
        return set(self._keys)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records())

    # -- writing --------------------------------------------------------------------------------------------------
    def _write_line(self, record: dict, mode: str = "a") -> None:
        with self.path.open(mode) as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: dict) -> bool:
        """Append ``record`` unless its key is already in the file (checked under the lock); True if written."""
        if not self._opened:
            self.open()
        record = {"format": FORMAT_VERSION, **record}
        with self.lock:
            self._read_new(repair=True)
            k = self.key(record)
            if k in self._keys:
                return False
            self._write_line(record)
            self._read_new()
        return True


def load_results(path: str | Path, key_fields: tuple[str, ...], kind: str = "sweep") -> tuple[pd.DataFrame, LoadReport]:
    """The points of a results file and a :class:`LoadReport` of what was found (read-only; no model needed)."""
    store = ResultStore(path, key_fields, kind)
    return store.frame(), store.report
