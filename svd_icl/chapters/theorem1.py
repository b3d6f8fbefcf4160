"""The Theorem 1 chapter's claims: Lemma 1 / Theorem 1 as an identity, Remarks 1 and 5, App. B.2's rank bound,
and Remark 1's reading of Figure 2 (an association between rank and accuracy, not an explanation)."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.core import Quantifier, check_outcome
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Case, Claim


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
        out.append(Claim("thm1-b2-softmax-rank", "App. B.2: with softmax attention the implicit update has rank <= N",
                         "App. B.2", single, (
                             Case("random weights (N = 2-48)", check_outcome(b2[0])),
                             Case(f"every layer of {rank_model} at {rank_shots} shots", check_outcome(b2[1]))),
                         note=f"random weights (N = 2-48) and every layer of {rank_model} at {rank_shots} shots"))
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
