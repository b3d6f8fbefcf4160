"""The Theorem 1 chapter's claims: Lemma 1 / Theorem 1 as an identity, Remarks 1 and 5, App. B.2's rank bound,
and Remark 1's reading of Figure 2 (an association between rank and accuracy, not an explanation)."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.core import Quantifier, check_outcome
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Case, Claim
from svd_icl.sweep import SweepConfig
from svd_icl.work import Facts, Sweep, Unit


def claims(v1: dict, seeds: int, num_layers: int, num_demos: int, dim: int, changed: list[int],
           b2: tuple[bool, bool] | None = None, rank_model: str = "", rank_shots: list[int] | None = None,
           story: dict | None = None, story_v: pd.Series | None = None,
           accuracy: pd.Series | None = None) -> list[Claim]:  # fmt: skip
    """The records from :func:`svd_icl.claims.theorem1_verdicts` (``v1``) and, with a real model, App. B.2's checks
    (``b2``: random weights, the model's layers), :func:`svd_icl.theory.softmax.rank_story` and its paired test."""
    single = Quantifier.EVERY
    out = [
        Claim("thm1-identity", "Lemma 1 and Theorem 1: the forward pass equals (I + W_t) h^0 at every layer",
              "Sec. 3.2", single, (Case("random float64 stacks", v1["theorem1"], f"max relative error "
                                        f"{v1['max_rel_error']:.1e} over {seeds} seeds x {num_layers} layers"),)),
        Claim("thm1-remark1-rank", "Remark 1: rank(Delta W_t) <= N", "Remark 1", single,
              (Case("random float64 stacks", v1["remark1"], f"max rank {v1['max_rank']} with N = {num_demos}, "
                                                            f"D = {dim}"),)),
        Claim("thm1-remark5", "Remark 5: pruning layer k changes exactly the L - k + 1 terms G_k..G_L", "Remark 5",
              single, (Case("random float64 stacks", v1["remark5"], f"layers k = {changed}"),)),
    ]  # fmt: skip
    if b2 is not None:
        out.append(
            Claim(
                "thm1-b2-softmax-rank",
                "App. B.2: with softmax attention the implicit update has rank <= N",
                "App. B.2",
                single,
                (
                    Case("random weights (N = 2-48)", check_outcome(b2[0])),
                    Case(f"every layer of {rank_model} at {rank_shots} shots", check_outcome(b2[1])),
                ),
                note=f"random weights (N = 2-48) and every layer of {rank_model} at {rank_shots} shots",
            )
        )
    if story is not None and story_v is not None:
        shots_text = ", ".join(f"{int(s)} shots {a:.1%}" for s, a in accuracy.items())
        out.append(Claim("thm1-remark1-story", "Remark 1's reading of Figure 2: the effective rank of the "
                         "demonstrations' hidden states and the accuracy both grow with shots (an association, not a "
                         "test of the explanation)", "Remark 1, Sec. 2.2", single, (
                             Case("effective rank grows with shots", check_outcome(story["rank_grows"]),
                                  f"{rank_model}: effective rank of H_s "
                                  f"{'grows' if story['rank_grows'] else 'does not grow'} with shots"),
                             Case("accuracy grows with shots", story_v.outcome, case_evidence(
                                 story_v, "accuracy", f"{shots_text}; {max(accuracy.index)} vs {min(accuracy.index)} "
                                 "shots ", "a step between consecutive shot numbers drops significantly"
                                 if story_v.step_drop else "")))))  # fmt: skip
    return out


def describe_ranks(b2_random: pd.DataFrame, softmax_features: int, rank_model: str, ranks: pd.DataFrame,
                   bound_holds: bool, accuracy: pd.Series, story: dict, story_v: pd.Series) -> str:  # fmt: skip
    """App. B.2 and Remark 1's reading of Figure 2 in words, from the rank checks and the paired accuracy test."""
    by_shots = ranks.groupby("shots").effective_rank_H.median()
    full = (ranks.rank_H == ranks.N).mean()
    above = (ranks[ranks.layer > 0].rank_H == ranks[ranks.layer > 0].N).mean()
    effective = ", ".join(f"{by_shots[s]:.1f} at N = {int(ranks[ranks.shots == s].N.iloc[0])}" for s in by_shots.index)
    shots = ", ".join(f"{int(s)} shots {a:.1%}" for s, a in accuracy.items())
    if story["rank_grows"]:
        test = (
            "predicts accuracy that grows with shots; tested paired on the same queries (most vs fewest shots, a "
            "significant drop between consecutive shot numbers refuting it), "
            + case_evidence(story_v, "that prediction", f"{max(accuracy.index)} vs {min(accuracy.index)} shots ")
        )
    else:
        test = "cannot order the shot numbers: **does not hold**"
    return (f"- **B.2 on random weights**: the softmax update's rank never exceeds N "
            f"({'in every case' if bool(b2_random.within.all()) else 'NOT in every case'}); the kernel form reproduces "
            f"the softmax numerator to {b2_random.kernel_error.max():.1%} with {20 * softmax_features} features.\n"
            f"- **{rank_model}**: every measured rank is at most N at every layer ({check_outcome(bound_holds)}). The "
            f"hidden states of the N demonstration tokens have full numerical rank N in {full:.0%} of (layer, shots) "
            f"cells ({above:.0%} above layer 0, where repeated tokens still share an embedding), while their effective "
            f"rank is much smaller (median over layers {effective}): a rank bound counts directions, not how much "
            f"weight each carries.\n"
            f"- **Against Figure 2** (unpruned SST-2 accuracy {shots}): the effective rank "
            f"{'grows' if story['rank_grows'] else 'does not grow'} with shots, so the rank story {test}.")  # fmt: skip


def work(p: dict, facts: Facts) -> list[Unit]:
    """With a real model (``rank_model``): its unpruned accuracy at each of ``accuracy_shots`` (Remark 1's reading)."""
    if not p["rank_model"]:
        return []
    return [Sweep(chapter="theorem1", label=f"{p['rank_model']} {s} shots", config=accuracy_config(p, s))
            for s in p["accuracy_shots"]]  # fmt: skip


def accuracy_config(p: dict, shots: int) -> SweepConfig:
    """The unpruned ``rank_model`` on SST-2 at ``shots`` (one point: the last layer's MLP at xi = 0)."""
    return SweepConfig(model=p["rank_model"], task="sst2", layers=[-1], modules=["mlp"], clip_rates=[0.0],
                       shots=shots, split=p["accuracy_split"], n=p["accuracy_n"])  # fmt: skip
