"""svd_icl: SVD-based weight pruning and in-context learning (Yao et al., NeurIPS 2024), reproduced.

The pieces a reader reuses on their own model, importable from the top level:

    from svd_icl import load_model, Pruner, condition_numbers
    model, tok = load_model("gemma3-270m")          # or any Hugging Face id / directory
    with Pruner(model).truncated(layer=-1, module="mlp", clip_rate=0.99):
        ...                                           # weights restored bit for bit afterwards
"""

from svd_icl.conditioning import condition_numbers
from svd_icl.evaluation import FastEvaluator, evaluate_naive
from svd_icl.models import load_model
from svd_icl.pruning import Pruner, factorize, truncated
from svd_icl.svd import rank_for_clip_rate

__version__ = "0.1.0"

__all__ = [
    "FastEvaluator",
    "Pruner",
    "condition_numbers",
    "evaluate_naive",
    "factorize",
    "load_model",
    "rank_for_clip_rate",
    "truncated",
]
