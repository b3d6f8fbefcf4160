"""Claim-by-claim reproduction status, collected from the chapters for the book's summary page.

Each chapter computes its verdicts from its own measurements and records them with :func:`record`; the summary
notebook only reads them back. So a status can never disagree with the chapter that produced it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from svd_icl.claims.core import REFUTED, REPRODUCED, STATUS_UNDETERMINED, Status
from svd_icl.claims.records import Claim


def record(results_dir: str | Path, chapter: str, claims: list[Claim]) -> pd.DataFrame:
    """Save the chapter's typed claims (:class:`svd_icl.claims.records.Claim`, built in :mod:`svd_icl.chapters`) to
    its verdict file; returns them as a table. Ids must be unique within the chapter; a control names the ids of the
    claims whose mechanism it tests (:func:`controls`)."""
    ids = [c.id for c in claims]
    if len(set(ids)) < len(ids):
        raise ValueError(f"{chapter}: claim ids repeat: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    path = Path(results_dir) / "verdicts" / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([c.to_dict() for c in claims], indent=1))
    return pd.DataFrame([c.to_dict() for c in claims])


def load(results_dir: str | Path, chapter: str) -> list[Claim]:
    """A chapter's recorded claims, typed again (empty when the chapter has not run)."""
    path = Path(results_dir) / "verdicts" / f"{chapter}.json"
    return [Claim.from_dict(d) for d in json.loads(path.read_text())] if path.exists() else []


def collect(results_dir: str | Path, chapters: list[str]) -> pd.DataFrame:
    """All recorded claims, in chapter order, one row each (status and counts derived from the cases when read);
    chapters that recorded nothing are listed as missing."""
    rows = []
    for chapter in chapters:
        path = Path(results_dir) / "verdicts" / f"{chapter}.json"
        if not path.exists():
            rows.append({"chapter": chapter, "id": f"{chapter}-missing", "claim": "(chapter not run)", "paper": "",
                         "status": "missing", "counts": "", "evidence": "", "control_of": []})  # fmt: skip
            continue
        rows += [{"chapter": chapter, **c.to_dict()} for c in load(results_dir, chapter)]
    return pd.DataFrame(rows)


STATUS_STYLE = {
    "reproduced": ("✔", "#1a7f37"),
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
                "Status": f'<span class="status" style="color:{colour}">{symbol}&nbsp;{html.escape(r.status)}</span>'
                + (f"<br><small>{html.escape(str(r.counts))}</small>" if getattr(r, "counts", "") else ""),
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


def _cell(text: object) -> str:
    """Text for one Markdown table cell (pipes escaped, one line)."""
    return " ".join(str(text).split()).replace("|", "\\|")


RECORD_CELL = 300  # characters at most in a README record cell (tests/test_summary.py): the evidence stays in the book


def record_markdown(results_dir: str | Path, chapters: list[str], timings: dict[str, float], header: str,
                    findings: str = "", estimates: dict[str, tuple[float, float]] | None = None) -> str:  # fmt: skip
    """The README's reproduction record, from a build's verdict files (:func:`record`) and its per-chapter wall
    times: the findings paragraph (``findings``, generated by :mod:`svd_icl.findings`), a count by status, then a
    compact row per claim (claim, paper, status with its case counts, the deciding case's effect, chapter), the
    controls, and one row per chapter's time (beside the plan's estimates of it, ``estimates``: seconds of its
    required work and of every look, where given: a build with a budget lands between the two). The full
    evidence stays in the chapters and on the summary page.
    Nothing in it is typed by hand, so it cannot disagree with the build it names."""
    table = collect(results_dir, chapters)
    counts = table.status.value_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in (*[str(x) for x in Status], "missing") if s in counts)
    lines = [header, ""] + ([findings, ""] if findings else [])
    lines += [f"**{len(table)} claims: {summary}.**", ""]
    lines += ["| Claim | Paper | Status (cases) | Deciding case | Chapter |", "|---|---|---|---|---|"]
    claims = {(ch, c.id): c for ch in chapters for c in load(results_dir, ch)}
    for r in table.itertuples():
        claim = claims.get((r.chapter, r.id))
        case = claim.deciding_case() if claim is not None else None
        deciding = case.effect_text() if case is not None else ""
        status = f"**{r.status}**" + (f" ({r.counts})" if r.counts else "")
        cells = [_cell(r.claim), _cell(r.paper), status, _cell(deciding), r.chapter]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Which of the paper's mechanisms survive the book's controls (from the same verdict files):", ""]
    lines += [controls_markdown(table)]
    if estimates:
        lines += ["", "| Step | Wall time | The plan's estimate: required work | every look |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(step)} | {seconds / 60:.1f} min | "
            + (" | ".join(f"{x / 60:.1f} min" for x in estimates[step]) + " |" if step in estimates else "| |")
            for step, seconds in timings.items()
        ]
    else:
        lines += ["", "| Step | Wall time |", "|---|---|"]
        lines += [f"| {_cell(step)} | {seconds / 60:.1f} min |" for step, seconds in timings.items()]
    return "\n".join(lines)


# What a control's status says about the mechanism it tests (a control claim reads "the mechanism survives X").
SURVIVES = {
    REPRODUCED: "survives",
    REFUTED: "does not survive",
    STATUS_UNDETERMINED: "undetermined",
    "missing": "not run",
}


def controls(table: pd.DataFrame) -> pd.DataFrame:
    """Per control recorded by the chapters (claims with ``control_of``, ids of the claims they test): the
    mechanism it tests with that claim's own status, the control and its status with its counts, and whether the
    mechanism survives it (:data:`SURVIVES`). A mechanism whose own status is not reproduced or undetermined has
    little for a control to explain; the ``note`` says so, and says when no chapter recorded the mechanism (a
    profile that skips it): the control is listed all the same, never dropped."""
    if "control_of" not in table:
        return pd.DataFrame(columns=["mechanism", "mechanism_status", "control", "status", "survives", "note"])
    statuses = dict(zip(table.id, table.status))
    texts = dict(zip(table.id, table.claim))
    rows = []
    for r in table[table.control_of.map(lambda c: isinstance(c, list) and len(c) > 0)].itertuples():
        for mechanism_id in r.control_of:
            own = statuses.get(mechanism_id, "missing")
            mechanism = texts.get(mechanism_id, mechanism_id)
            note = (f"the mechanism itself is {own} here" if own in (REFUTED, STATUS_UNDETERMINED)
                    else "no chapter recorded the mechanism in this build" if own == "missing" else "")  # fmt: skip
            rows.append({"mechanism": mechanism, "mechanism_status": own, "control": r.control, "status": r.status,
                         "counts": r.counts, "survives": SURVIVES[r.status], "note": note,
                         "chapter": r.chapter})  # fmt: skip
    return pd.DataFrame(rows)


def _survival_counts(c: pd.DataFrame) -> str:
    """'8 controls: 2 survives, 5 survives in some cases, 1 undetermined' from :func:`controls` rows."""
    counts = c.survives.value_counts()
    return f"{len(c)} controls: " + ", ".join(f"{counts[v]} {v}" for v in SURVIVES.values() if v in counts)


def controls_markdown(table: pd.DataFrame) -> str:
    """:func:`controls` as a Markdown table with a count line: which of the paper's mechanisms survive each control
    (for the README record and the summary page)."""
    c = controls(table)
    if c.empty:
        return "No chapter recorded a control."
    lines = [f"**{_survival_counts(c)}.**", "", "| Mechanism (status) | Control | Mechanism survives it |",
             "|---|---|---|"]  # fmt: skip
    lines += [
        f"| {_cell(r.mechanism)} (**{r.mechanism_status}**) | {_cell(r.control)} | **{r.survives}** ({r.counts})"
        + (f" ({_cell(r.note)})" if r.note else "")
        + " |"
        for r in c.itertuples()
    ]
    return "\n".join(lines)


def controls_html(table: pd.DataFrame) -> str:
    """:func:`controls` for the summary page, as HTML (a Markdown table in an output is not rendered), with the
    statuses styled as in :func:`claims_html`."""
    c = controls(table)
    if c.empty:
        return "<p>No chapter recorded a control.</p>"

    def styled(status: str, text: str) -> str:
        symbol, colour = STATUS_STYLE.get(status, ("", "inherit"))
        return f'<span class="status" style="color:{colour}">{symbol}&nbsp;{html.escape(text)}</span>'

    rows = [
        {
            "Mechanism": html.escape(r.mechanism),
            "Its status": styled(r.mechanism_status, r.mechanism_status),
            "Control": html.escape(r.control),
            "Survives it": styled(r.status, r.survives)
            + (f"<br><small>{html.escape(r.note)}</small>" if r.note else ""),
        }
        for r in c.itertuples()
    ]
    body = pd.DataFrame(rows).to_html(escape=False, index=False, border=0, classes="svd-icl-claims", justify="left")
    return f"<p>{html.escape(_survival_counts(c))}.</p>\n{body}"


def effects(results_dir: str | Path, chapters: list[str]) -> pd.DataFrame:
    """The quantitative effects the chapters recorded with their cases (a case's ``effect``: the difference with
    its simultaneous interval, the margin it was decided against, the paper's value or None, the shots), one row per
    case, in chapter order: what the summary's forest plot shows."""
    rows = []
    for chapter in chapters:
        for c in load(results_dir, chapter):
            short = (c.short if isinstance(c.short, str) and c.short else c.text.split("(")[0].strip())[:48]
            for case in c.cases:
                if case.effect is not None:
                    rows.append({"chapter": chapter, "claim": c.text, "claim_id": c.id, "claim_short": short,
                                 "case": case.name, "outcome": str(case.outcome), **vars(case.effect)})  # fmt: skip
    cols = ["chapter", "claim", "claim_id", "claim_short", "case", "difference", "low", "high", "outcome", "margin",
            "reported", "shots"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def describe_gains(measured: pd.DataFrame) -> str:
    """What the book's confirmed gains have in common, from :func:`effects` rows: how many cases of a claimed gain
    each outcome has, which hold (with their intervals and shot numbers), and whether every one that holds was
    measured without demonstrations, where a gain cannot be better *in-context* learning."""
    from svd_icl.claims.core import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED

    if measured.empty:
        return "No chapter recorded a confirmed effect."
    counts = measured.outcome.value_counts()
    words = {HOLDS: ("holds", "hold"), NOT_INFORMATIVE: ("is not informative (a degenerate reference prompt)",
             "are not informative (a degenerate reference prompt)"), FAILS: ("does not hold", "do not hold"),
             UNDETERMINED: ("is undetermined", "are undetermined")}  # fmt: skip
    parts = [f"{int(counts.get(o, 0))} {w[int(counts.get(o, 0)) != 1]}" for o, w in words.items()]
    text = f"Of the {len(measured)} confirmed cases on this page, " + ", ".join(parts[:-1]) + f" and {parts[-1]}."
    holds = measured[measured.outcome == HOLDS]
    if holds.empty:
        return text + " No truncation gain survives its confirmation."
    shots = pd.to_numeric(holds.shots, errors="coerce")

    def shot_text(k: float) -> str:
        return "shots not recorded" if k != k else f"{int(k)} shots"

    listed = "; ".join(
        f"{r.chapter} {r.case} ({shot_text(k)}): {r.difference:+.1%} [{r.low:+.1%}, {r.high:+.1%}]"
        for r, k in zip(holds.itertuples(), shots)
    )
    text += f" Those that hold: {listed}."
    if bool((shots == 0).all()):
        text += (
            " Every one of them was measured at 0 shots, with no demonstrations in the prompt: there truncation"
            " helps the model answer without in-context examples, which the paper's account of truncation as"
            " better in-context learning does not cover."
        )
    elif bool((shots > 0).any()):
        text += f" {int((shots > 0).sum())} of them with demonstrations in the prompt."
    return text
