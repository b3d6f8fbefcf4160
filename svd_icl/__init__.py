"""svd_icl: SVD-based weight pruning and in-context learning (Yao et al., NeurIPS 2024), reproduced."""

__version__ = "0.1.0"
