"""Claim-by-claim reproduction status, collected from the chapters for the book's summary page.

Each chapter computes its verdicts from its own measurements and records them with :func:`record`; the summary
notebook only reads them back. So a status can never disagree with the chapter that produced it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from svd_icl.claims.core import PARTLY, REFUTED, REPRODUCED, STATUSES


def status(flags: list[bool]) -> str:
    """The status of a deterministic check (no sampling of queries: an identity, a bound on given weights):
    every case true -> reproduced; some -> partly; none -> not reproduced (a false case is a counterexample)."""
    flags = [bool(f) for f in flags]
    if flags and all(flags):
        return REPRODUCED
    return PARTLY if any(flags) else REFUTED


def record(results_dir: str | Path, chapter: str, claims: list[dict]) -> pd.DataFrame:
    """Save ``claims`` (dicts with claim, paper, status, evidence) for ``chapter``; returns them as a table."""
    for c in claims:
        if c.get("status") not in STATUSES:
            raise ValueError(f"status {c.get('status')!r} not one of {STATUSES}")
    path = Path(results_dir) / "verdicts" / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(claims, indent=1))
    return pd.DataFrame(claims)


def collect(results_dir: str | Path, chapters: list[str]) -> pd.DataFrame:
    """All recorded claims, in chapter order; chapters that recorded nothing are listed as missing."""
    rows = []
    for chapter in chapters:
        path = Path(results_dir) / "verdicts" / f"{chapter}.json"
        if not path.exists():
            rows.append(
                {"chapter": chapter, "claim": "(chapter not run)", "paper": "", "status": "missing", "evidence": ""}
            )
            continue
        rows += [{"chapter": chapter, **c} for c in json.loads(path.read_text())]
    return pd.DataFrame(rows)


STATUS_STYLE = {
    "reproduced": ("✔", "#1a7f37"),
    "partly": ("◐", "#9a6700"),
    "not reproduced": ("✘", "#cf222e"),
    "undetermined": ("…", "#57606a"),
    "missing": ("?", "#57606a"),
}


def claims_html(table: pd.DataFrame, links: dict[str, str]) -> str:
    """The collected claims as an HTML table (a Markdown table in an output is not rendered by Jupyter Book):
    status as a coloured symbol and word, the chapter as a link, rows in chapter order, a count by status above."""
    rows = []
    for r in table.itertuples():
        symbol, colour = STATUS_STYLE.get(r.status, ("", "inherit"))
        rows.append(
            {
                "Claim": html.escape(str(r.claim)),
                "Paper": html.escape(str(r.paper)),
                "Status": f'<span class="status" style="color:{colour}">{symbol}&nbsp;{html.escape(r.status)}</span>',
                "Evidence": html.escape(str(r.evidence)),
                "Chapter": f'<a href="{html.escape(links[r.chapter])}">{html.escape(r.chapter)}</a>',
            }
        )
    counts = table.status.value_counts()
    head = " · ".join(
        f'<span style="color:{STATUS_STYLE[s][1]}">{STATUS_STYLE[s][0]} {s}: {counts[s]}</span>'
        for s in STATUS_STYLE
        if s in counts
    )
    body = pd.DataFrame(rows).to_html(escape=False, index=False, border=0, classes="svd-icl-claims", justify="left")
    style = (
        "<style>.svd-icl-claims {table-layout: fixed; width: 100%; font-size: 0.85em}"
        " .svd-icl-claims td, .svd-icl-claims th {text-align: left; vertical-align: top; overflow-wrap: anywhere}"
        " .svd-icl-claims .status {font-weight: bold; overflow-wrap: normal}"
        " .svd-icl-claims th:nth-child(1) {width: 27%} .svd-icl-claims th:nth-child(2) {width: 11%}"
        " .svd-icl-claims th:nth-child(3) {width: 18%} .svd-icl-claims th:nth-child(4) {width: 35%}"
        " .svd-icl-claims th:nth-child(5) {width: 9%}</style>"
    )
    return f"{style}\n<p>{head}</p>\n{body}"
