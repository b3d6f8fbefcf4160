"""The prompt-format control's verdicts: Figure 1's collapse and search-gain verdicts re-decided, by the same rules
and within the same families, from the points :func:`svd_icl.formats.format_control` re-scored under neutral
format changes. A verdict *survives* a change when it comes out the same."""

from __future__ import annotations

import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import DEGENERATE, FAILS, HOLDS, UNDETERMINED, degenerate, outcome_status, paired_interval
from svd_icl.claims.fig1 import shallow_collapse
from svd_icl.claims.points import baseline, correctness


def _point(frame: pd.DataFrame, row: pd.Series, group: list[str], layer, module, clip_rate) -> pd.DataFrame:
    """The unpruned point and the point (layer, module, clip rate) of ``row``'s group in ``frame``."""
    mine = frame[(frame[group] == row[group]).all(axis=1)]
    return mine[(mine.clip_rate == 0) | ((mine.layer == layer) & (mine.module == module)
                                         & (mine.clip_rate == clip_rate))]  # fmt: skip


def _label(layer, module, clip_rate) -> str:
    return f"layer {layer} {str(module).upper()} ξ = {clip_rate:g}"


def _gain_outcome(frame: pd.DataFrame, row: pd.Series) -> tuple[str, float, float]:
    """The search-gain verdict of one best point under a variant, in the book's family of ``row.m`` points: holds
    (or is a degenerate-prompt recovery) when its interval lies above 0, does not hold when the book's did not and
    the interval still lies below the margin, else undetermined. Returns (outcome, unpruned, point accuracy)."""
    ref, best = frame[frame.clip_rate == 0].iloc[0], frame[frame.clip_rate > 0].iloc[0]
    a, b = correctness(ref), correctness(best)
    t = paired_interval(a, b, int(row.m))
    if t.low > 0:
        outcome = DEGENERATE if degenerate(float(a.mean()), baseline(str(ref.task), ref.majority_rate)) else HOLDS
    elif row.outcome == FAILS and t.high < row.margin:
        outcome = FAILS
    else:
        outcome = UNDETERMINED
    return outcome, float(a.mean()), float(b.mean())


def format_robustness(
    variants: pd.DataFrame, collapse: pd.DataFrame, improve: pd.DataFrame, group: list[str],
    num_layers: dict[str, int],
) -> pd.DataFrame:  # fmt: skip
    """One row per (group, variant, verdict): the book's outcome and the variant's, the unpruned and the decisive
    point's accuracy in both formats, and ``survives``. ``collapse``/``improve`` are the chapter's
    :func:`~svd_icl.claims.fig1.shallow_collapse` and :func:`~svd_icl.claims.fig1.can_improve` tables."""
    rows = []
    for variant, vg in variants.groupby("variant", sort=False):
        for _, c in collapse.iterrows():
            frame = _point(vg, c, group, c.worst_layer, c.worst_module, c.worst_clip_rate)
            if frame.empty:  # variants are per model ("BOS added" where the tokenizer adds none, else "removed")
                continue
            redo = shallow_collapse(frame, group, num_layers, c.margin, m=int(c.m)).iloc[0]
            rows.append({**group_fields(group, tuple(c[group])), "variant": variant,
                         "verdict": "shallow layers collapse",
                         "book": c.outcome, "outcome": redo.outcome, "book_unpruned": c.unpruned,
                         "unpruned": redo.unpruned, "book_point": c.worst_accuracy, "point": redo.worst_accuracy,
                         "point_label": _label(c.worst_layer, c.worst_module, c.worst_clip_rate)})  # fmt: skip
        for _, r in improve.iterrows():
            frame = _point(vg, r, group, r.best_layer, r.best_module, r.best_clip_rate)
            if frame.empty:
                continue
            outcome, unpruned, point = _gain_outcome(frame, r)
            rows.append({**group_fields(group, tuple(r[group])), "variant": variant,
                         "verdict": "some truncation raises accuracy",
                         "book": r.outcome, "outcome": outcome, "book_unpruned": r.unpruned, "unpruned": unpruned,
                         "book_point": r.best_accuracy, "point": point,
                         "point_label": _label(r.best_layer, r.best_module, r.best_clip_rate)})  # fmt: skip
    out = pd.DataFrame(rows)
    if len(out):
        out["survives"] = out.book == out.outcome
    return out


def describe_formats(table: pd.DataFrame, group: list[str] = ("model", "task")) -> str:
    """Generated markdown: per verdict and group, the book's outcome and each variant's, with the accuracies that
    moved; then how many verdicts survive every change."""
    if table.empty:
        return "No format variants were scored."
    lines = []
    for key, g in table.groupby([*group, "verdict"], sort=False):
        *names, verdict = key
        first = g.iloc[0]
        parts = [
            f"{r.variant}: **{r.outcome}** (unpruned {r.book_unpruned:.0%} → {r.unpruned:.0%}, "
            f"{r.point_label} {r.book_point:.0%} → {r.point:.0%})"
            for r in g.itertuples()
        ]
        lines.append(f"- **{' '.join(map(str, names))}**, *{verdict}* (book's format: **{first.book}**): "
                     + "; ".join(parts) + ".")  # fmt: skip
    per = table.groupby([*group, "verdict"]).survives.all()
    lines.append(f"\n{int(per.sum())} of {len(per)} verdicts come out the same under every format change"
                 + ("." if per.all() else "; the others depend on the prompt's format, not only on the truncation."))
    return "\n".join(lines)


def format_claim(
    table: pd.DataFrame, group: list[str] = ("model", "task"), control_of: list[str] | None = None
) -> dict:
    """The summary record of the control: each (group, verdict) a case that holds when it survives every change.
    ``control_of``: the claims (their recorded text) whose verdicts the control re-derives (:func:`svd_icl.summary.
    controls`)."""
    per = table.groupby([*group, "verdict"], sort=False).survives.all()
    flipped = [f"{' '.join(map(str, k[:-1]))} {k[-1]}" for k, ok in per.items() if not ok]
    control = {"control": "neutral prompt-format changes (BOS, blank lines)", "control_of": control_of}
    return {
        "claim": "Collapse and search-gain verdicts survive neutral prompt-format changes (BOS, blank lines)",
        "paper": "(ours: prompt format)",
        **(control if control_of else {}),
        "status": outcome_status([HOLDS if ok else FAILS for ok in per]),
        "evidence": f"{int(per.sum())} of {len(per)} verdicts unchanged under "
        + ", ".join(dict.fromkeys(table.variant))
        + (f"; changed: {'; '.join(flipped)}" if flipped else ""),
    }
