"""Numbers *reported in the paper* (Tables 2-8, App. C.5), for side-by-side display only.

Nothing in this package computes with them except to show them beside our measurements, labelled as reported.
Layers are numbered from 0 as in the paper (GPT-J has 28 layers, LLaMA2-7B 32). The metric is test accuracy,
except COPA (test F1).
"""

from __future__ import annotations

import pandas as pd

# (task, model, layer, module, optimal clip rate, unpruned, pruned)
_TABLES_2_TO_8 = [
    ("sst2", "GPT-J-6B", 26, "MLP", 0.95, 0.7527, 0.8437),
    ("sst2", "GPT-J-6B", 27, "ATTN", 0.995, 0.7527, 0.7642),
    ("sst2", "LLaMA2-7B", 30, "MLP", 0.99, 0.9228, 0.9257),
    ("sst2", "LLaMA2-7B", 30, "ATTN", 0.95, 0.9228, 0.9287),
    ("agnews", "GPT-J-6B", 26, "MLP", 0.1, 0.76434, 0.76947),
    ("agnews", "GPT-J-6B", 27, "ATTN", 0.95, 0.76434, 0.77026),
    ("agnews", "LLaMA2-7B", 30, "MLP", 0.995, 0.77026, 0.84881),
    ("agnews", "LLaMA2-7B", 30, "ATTN", 0.1, 0.77026, 0.77039),
    ("emoc", "GPT-J-6B", 26, "MLP", 0.1, 0.69032, 0.74278),
    ("emoc", "GPT-J-6B", 27, "ATTN", 0.5, 0.69032, 0.69758),
    ("emoc", "LLaMA2-7B", 30, "MLP", 0.1, 0.77110, 0.79106),
    ("emoc", "LLaMA2-7B", 30, "ATTN", 0.1, 0.77110, 0.76910),
    ("mrpc", "GPT-J-6B", 26, "MLP", 0.995, 0.66492, 0.66492),
    ("mrpc", "GPT-J-6B", 27, "ATTN", 0.995, 0.66492, 0.66492),
    ("mrpc", "LLaMA2-7B", 30, "MLP", 0.5, 0.66666, 0.67536),
    ("mrpc", "LLaMA2-7B", 30, "ATTN", 0.995, 0.66666, 0.66608),
    ("rte", "GPT-J-6B", 26, "MLP", 0.99, 0.56884, 0.57971),
    ("rte", "GPT-J-6B", 27, "ATTN", 0.0, 0.56884, 0.56884),
    ("rte", "LLaMA2-7B", 30, "MLP", 0.75, 0.56159, 0.57608),
    ("rte", "LLaMA2-7B", 30, "ATTN", 0.9, 0.56159, 0.57971),
    ("cb", "GPT-J-6B", 26, "MLP", 0.95, 0.58181, 0.67272),
    ("cb", "GPT-J-6B", 27, "ATTN", 0.0, 0.58181, 0.58181),
    ("cb", "LLaMA2-7B", 30, "MLP", 0.95, 0.83636, 0.85454),
    ("cb", "LLaMA2-7B", 30, "ATTN", 0.99, 0.83636, 0.87272),
    ("copa", "GPT-J-6B", 26, "MLP", 0.95, 0.58, 0.59),
    ("copa", "GPT-J-6B", 27, "ATTN", 0.99, 0.58, 0.58),
    ("copa", "LLaMA2-7B", 30, "MLP", 0.5, 0.57, 0.62),
    ("copa", "LLaMA2-7B", 30, "ATTN", 0.99, 0.57, 0.56),
]


def algorithm1_reported() -> pd.DataFrame:
    """Tables 2-8 as a DataFrame, with ``source = "reported in the paper"``."""
    cols = ["task", "model", "layer", "module", "optimal_xi", "test_unpruned", "test_pruned"]
    frame = pd.DataFrame(_TABLES_2_TO_8, columns=cols)
    return frame.assign(change=frame.test_pruned - frame.test_unpruned, source="reported in the paper")


def paper_margin(task: str, module: str | None = None) -> float | None:
    """The smallest positive test change the paper reports for ``task`` (and ``module``: "attn" or "mlp"; None:
    either) in Tables 2-8, or None where it reports none: a refutation of a gain must exclude this too
    (:func:`svd_icl.claims.core.refutation_margin`), or the paper's own table would "not hold"."""
    frame = algorithm1_reported()
    rows = frame[frame.task == task]
    if module is not None:
        rows = rows[rows.module == str(module).upper()]
    positive = rows.change[rows.change > 0]
    return float(positive.min()) if len(positive) else None
