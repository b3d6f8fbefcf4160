"""Figure 2's claims: accuracy grows with shots, and truncation's effects depend on the number of shots; the
prompt choice (label words, demonstration order) made on validation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import (
    ALPHA,
    FAILS,
    MARGINS,
)
from svd_icl.claims.points import (
    _decided,
    _pct,
    _unpruned,
    collapsed,
    correctness,
    effect,
)
from svd_icl.stats import holm, paired_comparison


def shots_help(sweeps: pd.DataFrame, group: list[str] = ("model",), margin: float = MARGINS["shots"]) -> pd.DataFrame:
    """Claim (Fig. 2a): unpruned accuracy grows with the number of shots. Paired: most vs fewest shots on the
    same queries (interval simultaneous over the groups, decided with ``margin``), plus each consecutive pair;
    a consecutive step that is a significant drop (Holm over the steps) refutes "grows"."""
    rows = []
    for key, g in sweeps[sweeps.clip_rate == 0.0].groupby(list(group), sort=False):
        g = g.drop_duplicates("shots").sort_values("shots")
        if len(g) < 2:
            raise ValueError(f"shots_help needs at least two shot numbers per group; {key} has {len(g)}")
        acc = [correctness(r) for _, r in g.iterrows()]
        steps = [paired_comparison(a, b) for a, b in zip(acc, acc[1:])]
        steps_p = holm([s.p_value for s in steps])
        rows.append(
            {
                **group_fields(group, key),
                "accuracy_by_shots": dict(zip(g.shots.astype(int), [float(a.mean()) for a in acc])),
                "p": paired_comparison(acc[0], acc[-1]).p_value,
                "steps_p_holm": [float(p) for p in steps_p],
                "step_drop": any(s.difference < 0 and p < ALPHA for s, p in zip(steps, steps_p)),
                "_a": acc[0],
                "_b": acc[-1],
            }
        )
    out = _decided(pd.DataFrame(rows), margin)
    out.loc[out.step_drop, "outcome"] = FAILS
    return out


def collapse_grows_with_shots(
    sweeps: pd.DataFrame, num_layers: dict[str, int], group: list[str] = ("model",), margin: float = MARGINS["shots"]
) -> pd.DataFrame:
    """Claim (Sec. 2.2c): with fewer shots, heavy truncation of shallow layers hurts less.

    Per query, the loss from truncating shallow layers is its unpruned correctness minus its correctness
    averaged over the shallow pruned points; the claim is that the loss is larger at the most shots than at the
    fewest (Wilcoxon on the paired per-query losses; interval simultaneous over groups, decided with ``margin``).
    """
    rows = []
    for key, g in sweeps.groupby(list(group), sort=False):
        losses = {}
        for shots, s in g.groupby("shots"):
            ref = correctness(_unpruned(s))
            shallow = s[(s.clip_rate > 0) & (s.layer < s.model.map(num_layers) / 2)]
            losses[int(shots)] = ref - np.mean([correctness(r) for _, r in shallow.iterrows()], axis=0)
        few, many = min(losses), max(losses)
        rows.append(
            {
                **group_fields(group, key),
                "loss_by_shots": {k: float(v.mean()) for k, v in sorted(losses.items())},
                "p": paired_comparison(losses[few], losses[many]).p_value,
                "_a": losses[few],
                "_b": losses[many],
            }
        )
    return _decided(pd.DataFrame(rows), margin)


def choose_variant(table: pd.DataFrame, metric: str = "accuracy") -> str:
    """The prompt variant with the best validation score (first listed among equals): chosen without test data."""
    val = table[table.split == "validation"]
    if val.empty:
        raise ValueError("no validation rows: prompt variants must be scored on validation to choose among them")
    return str(val.loc[val[metric].idxmax(), "variant"])


def variant_tests(table: pd.DataFrame, chosen: str) -> pd.DataFrame:
    """Each other variant against the chosen one on the test queries (paired), Holm over the comparisons."""
    test = table[table.split == "test"].set_index("variant")
    ref = correctness(test.loc[chosen])
    rows = []
    for name, r in test.iterrows():
        if name == chosen:
            continue
        t = paired_comparison(ref, correctness(r))
        rows.append({"variant": name, "difference": t.difference, "low": t.low, "high": t.high, "p": t.p_value})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = holm(out.p.to_numpy())
        out["m"] = len(out)
    return out


def describe_fig2(
    help_: pd.Series, improve: pd.DataFrame, depth: pd.DataFrame, grows: pd.Series, confirmed: pd.DataFrame
) -> str:
    """One generated paragraph per model: Sec. 2.2's claims (a)-(c) with paired effects. ``improve``: the
    exploratory search per shot number (:func:`svd_icl.claims.can_improve`); ``confirmed``: its picks scored again
    on held-out queries (:func:`svd_icl.claims.confirmation_verdicts` rows with ``shot_count``), which decide (b)."""
    by_shots = ", ".join(f"{k} shots {_pct(v)}" for k, v in help_.accuracy_by_shots.items())
    search = {int(r.shots): r for r in improve.itertuples()}
    per_shot = "; ".join(
        f"{int(r.shot_count)} shots: **{r.outcome}** (layer {r.layer} {str(r.module).upper()} ξ = {r.clip_rate:g}, "
        f"{search[int(r.shot_count)].difference * 100:+.1f} points on the validation search; on {r.n} held-out "
        f"queries x {r.seeds} demonstration set{'s' if r.seeds != 1 else ''} {_pct(r.unpruned)} → {_pct(r.selected)}, "
        f"{effect(r)})"
        for r in confirmed.itertuples()
    )
    stable = "; ".join(f"{int(r.shots)} shots: **{r.outcome}** ({effect(r)})" for r in depth.itertuples())
    losses = ", ".join(f"{k} shots {v * 100:+.1f} points" for k, v in grows.loss_by_shots.items())
    return (
        f"**{help_.model}**. (a) *Accuracy grows with shots*: **{help_.outcome}** ({by_shots}; most vs fewest "
        f"{effect(help_)}). (b) *Truncation can help at every shot number* (each shot number's best point on the "
        f"validation search, confirmed on held-out queries; intervals simultaneous over every model and shot number): "
        f"{per_shot}. *Deep layers more stable*: {stable}. (c) *Fewer shots, slower shallow collapse*: "
        f"**{grows.outcome}** (mean loss from truncating shallow layers: {losses}; most vs fewest {effect(grows)})."
    )


def describe_variants(
    table: pd.DataFrame, chosen: str, tests: pd.DataFrame, words_of: dict[str, list[str]], default: str = "ours"
) -> str:
    """What each prompt variant does on the test queries, from its predicted-label shares: a variant that answers
    one label for (nearly) every query is named as collapsed, and its accuracy is that label's share."""
    test = table[table.split == "test"].set_index("variant")
    gold = np.asarray(test.iloc[0]["labels"])
    parts = [
        f"Chosen on validation: **{chosen}**; the book's default prompt "
        + (f"({default}) is that choice." if chosen == default else f"({default}) is *not* the validation choice.")
    ]
    effects = {r.variant: f" ({effect(r)} against {chosen})" for r in tests.itertuples()}
    for variant, row in test.iterrows():
        words = words_of[variant]
        shares = ", ".join(f"'{w}' {s:.0%}" for w, s in zip(words, row.predicted_shares))
        top = collapsed(row.predicted_shares)
        text = f"**{variant}**: {_pct(row.accuracy)} on test{effects.get(variant, '')}; answers {shares}"
        if top is not None:
            text += (
                f" — it gives '{words[top]}' to (nearly) every query, so its accuracy is just the share of that "
                f"label among the queries ({_pct(float(np.mean(gold == top)))})"
            )
        parts.append(text + ".")
    return " ".join(parts)
