"""The prompt-format control's verdicts: Figure 1's collapse and search-gain verdicts re-decided, by the same rules
and within the same families, from the points :func:`svd_icl.formats.format_control` re-scored under neutral
format changes. A verdict *survives* a change when it comes out the same."""

from __future__ import annotations

import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED, Quantifier, check_outcome, paired_interval
from svd_icl.claims.fig1 import shallow_collapse
from svd_icl.claims.points import baseline, correctness
from svd_icl.claims.records import Case, Claim
from svd_icl.claims.sets import informative_set


def _point(frame: pd.DataFrame, row: pd.Series, group: list[str], layer, module, clip_rate) -> pd.DataFrame:
    """The unpruned point and the point (layer, module, clip rate) of ``row``'s group in ``frame``."""
    mine = frame[(frame[group] == row[group]).all(axis=1)]
    return mine[(mine.clip_rate == 0) | ((mine.layer == layer) & (mine.module == module)
                                         & (mine.clip_rate == clip_rate))]  # fmt: skip


def _label(layer, module, clip_rate) -> str:
    return f"layer {layer} {str(module).upper()} ξ = {clip_rate:g}"


def _gain_outcome(frame: pd.DataFrame, row: pd.Series) -> tuple[str, float, float]:
    """The search-gain verdict of one best point under a variant, in the book's family of ``row.m`` points: not
    informative when the variant's reference is degenerate, holds when the point's interval lies above 0; does not
    hold only where the book's did not either and the point's interval still lies below the margin (a refutation
    of *some* truncation needs every point, and the variant re-scores only the book's best); else undetermined.
    Returns (outcome, unpruned, point accuracy)."""
    ref, best = frame[frame.clip_rate == 0].iloc[0], frame[frame.clip_rate > 0].iloc[0]
    a, b = correctness(ref), correctness(best)
    t = paired_interval(a, b, int(row.m))
    if not informative_set(a, baseline(str(ref.task), ref.majority_rate)):
        outcome = NOT_INFORMATIVE
    elif t.low > 0:
        outcome = HOLDS
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
        out["decided"] = out.book.isin([HOLDS, FAILS])  # only a decided verdict can survive or fall
        out["survives"] = out.decided & (out.book == out.outcome)
    return out


def _per_verdict(table: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Per (group, verdict): whether the book's verdict was decided, and whether it survives every variant."""
    return table.groupby([*group, "verdict"], sort=False).agg(decided=("decided", "all"), survives=("survives", "all"))


def describe_formats(table: pd.DataFrame, group: list[str] = ("model", "task")) -> str:
    """Generated markdown: per verdict and group, the book's outcome and each variant's, with the accuracies that
    moved; then how many decided verdicts survive every change (an undetermined verdict can neither)."""
    if table.empty:
        return "No format variants were scored."
    group = list(group)
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
    per = _per_verdict(table, group)
    decided = per[per.decided]
    kept = int(decided.survives.sum())
    lines.append(f"\nOf the {len(decided)} verdicts the book decided (of {len(per)}), {kept} come "
                 "out the same under every format change" + ("." if decided.survives.all() else
                 "; the others depend on the prompt's format, not only on the truncation.")
                 + (f" The {len(per) - len(decided)} undecided ones cannot test the format." if len(per) > len(decided)
                    else ""))  # fmt: skip
    return "\n".join(lines)


def format_claim(
    table: pd.DataFrame, group: list[str] = ("model", "task"), control_of: tuple[str, ...] = (),
    claim_id: str = "format-control",
) -> Claim:  # fmt: skip
    """The control's claim: each (group, verdict) a case that holds when the book's decided verdict survives every
    change, is refuted when it flips, and is not informative when the book's verdict was undecided (nothing to
    survive). ``control_of``: the ids of the claims whose verdicts the control re-derives."""
    group = list(group)
    per = _per_verdict(table, group)
    cases = []
    for key, r in per.iterrows():
        name = f"{' '.join(map(str, key[:-1]))} {key[-1]}"
        outcome = check_outcome(r.survives) if r.decided else NOT_INFORMATIVE
        moved = table[(table[[*group, "verdict"]] == list(key)).all(axis=1)]
        detail = ", ".join(f"{v.variant}: {v.outcome}" for v in moved.itertuples())
        cases.append(Case(name, outcome, f"{name}: book {moved.book.iloc[0]}; {detail}"))
    return Claim(claim_id, "Collapse and search-gain verdicts survive neutral prompt-format changes (BOS, blank lines)",
                 "(ours: prompt format)", Quantifier.EVERY, tuple(cases),
                 control="neutral prompt-format changes (BOS, blank lines)" if control_of else None,
                 control_of=tuple(control_of))  # fmt: skip
