"""The prompt-format control: Figure 1's decisive points scored again under neutral changes of the prompt's format.

A truncated, near-degenerate model can swing by many points with one neutral token: SmolLM2 with layer 0's MLP
truncated at xi = 0.5 answers 43% of 200 SST-2 queries in the book's format (no BOS: its tokenizer adds none) and
64% when the same prompts start with BOS, while the unpruned model scores 57% both ways (measured with lm-eval on
an exported checkpoint). Verdicts about collapse, and gains measured from a collapsed reference, may then be about
the format rather than the truncation. This module re-scores the points such a verdict rests on (the unpruned
model, the worst shallow point, the best point) under each change of :func:`format_variants`, on the same queries
and demonstrations; :func:`svd_icl.claims.formats.format_robustness` re-decides the verdicts from them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.prompts import adds_bos
from svd_icl.sweep import SweepConfig, run_sweep

FORMATS_FILE = "formats.jsonl"  # the variants' points: a results file of their own (no chapter's plan lists them)


def format_variants(tokenizer: PreTrainedTokenizerBase) -> dict[str, dict]:
    """Neutral changes of the book's format for this tokenizer, as :class:`~svd_icl.sweep.SweepConfig` fields: BOS
    flipped (added where the tokenizer adds none, dropped where it adds one) and a blank line between
    demonstrations."""
    out = {}
    if tokenizer.bos_token_id is not None:
        adds = adds_bos(tokenizer)
        out["BOS removed" if adds else "BOS added"] = {"bos": not adds}
    out["blank line between demonstrations"] = {"separator": "\n\n"}
    return out


def format_control(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: SweepConfig,
    points: list[tuple[int, str, float]],
    results: str | Path,
) -> pd.DataFrame:
    """The unpruned model and each ``(layer, module, clip_rate)`` of ``points`` under every format variant, on
    ``config``'s queries and demonstrations. Stored in ``results`` (resumed on rerun); one row per (variant, point)
    with a ``variant`` column and the per-query answers of a sweep record."""
    frames = []
    for name, change in format_variants(tokenizer).items():
        for layer, module, xi in dict.fromkeys(points):
            unit = replace(config, layers=[int(layer)], modules=[str(module)], clip_rates=sorted({0.0, float(xi)}),
                           **change)  # fmt: skip
            frames.append(run_sweep(model, tokenizer, unit, results).assign(variant=name))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    table = table[(table.clip_rate > 0) | ~table.duplicated(["variant", "clip_rate"])]  # the unpruned point once
    return table.drop_duplicates(["variant", "layer", "module", "clip_rate"]).reset_index(drop=True)
