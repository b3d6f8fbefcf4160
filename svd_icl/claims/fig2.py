"""Figure 2's claims: accuracy grows with shots, and truncation's effects depend on the number of shots; the
prompt choice (label words, demonstration order) made on validation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.analysis import group_fields, is_shallow
from svd_icl.claims.core import (
    ALPHA,
    FAILS,
    MARGINS,
    decide,
)
from svd_icl.claims.points import (
    baseline,
    collapsed,
    correctness,
    effect,
    pct,
    unpruned_row,
    with_outcomes,
)
from svd_icl.stats import holm, paired_comparison


def shots_help(sweeps: pd.DataFrame, group: list[str] = ("model",), margin: float = MARGINS["shots"]) -> pd.DataFrame:
    """Claim (Fig. 2a): unpruned accuracy grows with the number of shots. Paired: most vs fewest shots on the
    same queries (interval simultaneous over the groups, decided with ``margin``), plus each consecutive pair;
    a consecutive step that is a significant drop (Holm over the steps) refutes "grows"."""
    rows = []
    for key, g in sweeps[sweeps.clip_rate == 0.0].groupby(list(group), sort=False):
        g = _one_prompt_per_shots(g, key)
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
    out = with_outcomes(pd.DataFrame(rows), margin)
    out.loc[out.step_drop, "outcome"] = FAILS
    return out


def _one_prompt_per_shots(g: pd.DataFrame, key) -> pd.DataFrame:
    """The unpruned points of one group, one per shot number (the same prompt's copies under other (layer, module)
    keys collapse to one); several *different* prompts at one shot number are an error: an effect over prompts
    needs :func:`shots_help_sets`, not one of them picked."""
    same_prompt = ["shots"] + [c for c in ("prompt", "demo_seed", "demo_set") if c in g]
    g = g.assign(**{c: g[c].astype(str) for c in same_prompt[1:]}).drop_duplicates(same_prompt)
    counts = g.shots.value_counts()
    if (counts > 1).any():
        raise ValueError(f"{key}: {int(counts.max())} different prompts at {int(counts.idxmax())} shots; "
                         "use shots_help_sets to decide over demonstration sets")  # fmt: skip
    return g.sort_values("shots")


def shots_help_sets(
    points: pd.DataFrame, group: list[str] = ("model",), margin: float = MARGINS["shots"], alpha: float = ALPHA,
) -> pd.DataFrame:  # fmt: skip
    """Claim: accuracy grows with the number of shots, decided over prompts. From confirmation records
    (:func:`svd_icl.confirm.confirm`, several shot numbers allowed, with ``shots``): per group and each step between
    consecutive shot numbers (0 included: the 0-shot reference), per fresh demonstration set the unpruned accuracy
    at the larger shot number minus that at the smaller on the same query block, and the random-effects interval
    over the sets both scored (:mod:`svd_icl.claims.sets`), simultaneous over every (group, step) ``m``. Columns
    ``few`` and ``many`` name the step."""
    from svd_icl.claims.sets import CROSSED, NESTED, set_interval

    def by_set(g: pd.DataFrame, k: int) -> dict[int, tuple[int, np.ndarray]]:
        if k == 0:  # the 0-shot reference of each block, under the set scored on it
            zero = {_offset(r): correctness(r) for _, r in g[g.role == "zero_shot"].iterrows()}
            sets = g[(g.arm == "sets") & (g.role == "unpruned")].drop_duplicates("set")
            return {int(r["set"]): (_offset(r), zero[_offset(r)]) for _, r in sets.iterrows() if _offset(r) in zero}
        rows = g[(g.arm == "sets") & (g.role == "unpruned") & (g.shots == k)].drop_duplicates("set")
        return {int(r["set"]): (_offset(r), correctness(r)) for _, r in rows.iterrows()}

    steps = []
    for key, g in points.groupby(list(group), sort=False):
        shots = sorted({0, *(int(k) for k in g[g.arm == "sets"].shots)})
        steps += [(key, g, few, many) for few, many in zip(shots, shots[1:])]
    m = max(len(steps), 1)
    rows = []
    for key, g, few, many in steps:
        a, b = by_set(g, few), by_set(g, many)
        common = sorted(set(a) & set(b))
        if len(common) < 2:
            raise ValueError(f"{key}: {few} vs {many} shots shares fewer than 2 demonstration sets")
        design = NESTED if len({a[j][0] for j in common}) > 1 else CROSSED
        est = set_interval([a[j][1] for j in common], [b[j][1] for j in common], alpha / m, design)
        rows.append({**group_fields(list(group), key), "few": few, "many": many, "shots": many,
                     "accuracy_few": float(np.mean([a[j][1].mean() for j in common])),
                     "accuracy_many": float(np.mean([b[j][1].mean() for j in common])), "difference": est.difference,
                     "low": est.low, "high": est.high, "sets": est.sets, "n": est.queries, "design": design,
                     "tau": est.tau, "i2": est.i2, "m": m, "p_adj": min(1.0, est.p(m)),
                     "mde": est.detectable(alpha / m), "margin": margin,
                     "outcome": decide(est.low, est.high, margin)})  # fmt: skip
    return pd.DataFrame(rows)


def _offset(r) -> int:
    x = r["offset"] if "offset" in r else None
    return 0 if x is None or x != x else int(x)


def collapse_grows_with_shots(
    sweeps: pd.DataFrame, num_layers: dict[str, int], group: list[str] = ("model",),
    margin: float = MARGINS["headroom"],
) -> pd.DataFrame:  # fmt: skip
    """Claim (Sec. 2.2c): with fewer shots, heavy truncation of shallow layers hurts less.

    Measured on the share of *headroom* lost, so that a reference with little to lose cannot pass for a slow
    collapse: per query, the unpruned correctness minus the correctness averaged over the shallow pruned points,
    divided by the reference's headroom (its accuracy minus the answer-ignoring rate). The claim is that this share
    is larger at the most shots than at the fewest (paired over the queries; interval simultaneous over the groups,
    decided with ``margin``, a share). ``NOT INFORMATIVE`` when either reference is not shown above the
    answer-ignoring rate (:func:`svd_icl.claims.sets.informative_set`): it has no headroom to lose.
    """
    from svd_icl.claims.sets import informative_set

    rows = []
    for key, g in sweeps.groupby(list(group), sort=False):
        shares, headroom, ok = {}, {}, True
        for shots, s in g.groupby("shots"):
            ref = unpruned_row(s)
            u = correctness(ref)
            floor = baseline(str(ref.task), float(ref.majority_rate))
            shallow = s[(s.clip_rate > 0) & is_shallow(s, num_layers)]
            room = float(u.mean()) - floor
            headroom[int(shots)] = room
            ok &= informative_set(u, floor)
            lost = u - np.mean([correctness(r) for _, r in shallow.iterrows()], axis=0)
            shares[int(shots)] = lost / max(room, 1e-9)
        few, many = min(shares), max(shares)
        rows.append(
            {
                **group_fields(group, key),
                "loss_by_shots": {k: float(v.mean()) for k, v in sorted(shares.items())},
                "headroom_by_shots": dict(sorted(headroom.items())),
                "p": paired_comparison(shares[few], shares[many]).p_value,
                "informative": ok,
                "_a": shares[few],
                "_b": shares[many],
            }
        )
    return with_outcomes(pd.DataFrame(rows), margin)


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
    model: str, helps: pd.DataFrame, improve: pd.DataFrame, depth: pd.DataFrame, grows: pd.Series,
    confirmed: pd.DataFrame, tuned: pd.DataFrame,
) -> str:  # fmt: skip
    """One generated paragraph per model: Sec. 2.2's claims (a)-(c). ``helps``: :func:`shots_help_sets` rows (each
    step between shot numbers, over fresh sets); ``improve``: the exploratory search per shot number
    (:func:`can_improve`); ``confirmed``/``tuned``: its picks confirmed over fresh prompts and for the tuned prompt
    (:func:`svd_icl.claims.over_sets` / :func:`tuned_prompt` rows with ``shot_count``), which decide (b)."""
    steps = "; ".join(f"{r.few}→{r.many} shots **{r.outcome}** ({pct(r.accuracy_few)} → {pct(r.accuracy_many)}, "
                      f"{r.difference:+.1%} [{r.low:+.1%}, {r.high:+.1%}] over {r.sets} sets)"
                      for r in helps.itertuples())  # fmt: skip
    search = {int(r.shots): r for r in improve.itertuples()}
    own = {int(r.shot_count): r for r in tuned.itertuples()}

    def interval(r) -> str:
        return "no estimate" if r.difference != r.difference else f"{r.difference:+.1%} [{r.low:+.1%}, {r.high:+.1%}]"

    per_shot = "; ".join(
        f"{int(r.shot_count)} shots: over prompts **{r.outcome}** ({interval(r)}, {r.stopped}), tuned prompt "
        f"**{own[int(r.shot_count)].outcome}** ({interval(own[int(r.shot_count)])}; layer {r.layer} "
        f"{str(r.module).upper()} ξ = {r.clip_rate:g}, {search[int(r.shot_count)].difference * 100:+.1f} points on the "
        "validation search)"
        for r in confirmed.itertuples()
    )
    stable = "; ".join(f"{int(r.shots)} shots: **{r.outcome}** ({effect(r)})" for r in depth.itertuples())
    losses = ", ".join(f"{k} shots {v:.0%}" for k, v in grows.loss_by_shots.items())
    return (
        f"**{model}**. (a) *Accuracy grows with shots* (over fresh demonstration sets): {steps}. (b) *Truncation can "
        f"help at every shot number* (each shot number's best point on the validation search, confirmed on "
        f"held-out queries): {per_shot}. *Deep layers more stable*: {stable}. (c) *Fewer shots, slower shallow "
        f"collapse*: **{grows.outcome}** (share of the headroom lost to shallow truncation: {losses}; most vs fewest "
        f"{effect(grows)})."
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
        text = f"**{variant}**: {pct(row.accuracy)} on test{effects.get(variant, '')}; answers {shares}"
        if top is not None:
            text += (
                f" — it gives '{words[top]}' to (nearly) every query, so its accuracy is just the share of that "
                f"label among the queries ({pct(float(np.mean(gold == top)))})"
            )
        parts.append(text + ".")
    return " ".join(parts)
