"""Theory utilities: the stacked linear-attention model of Sec. 3 and its implicit-gradient trajectory."""

from svd_icl.theory.linear_attention import (
    LinearAttentionStack,
    Trajectory,
    forward,
    implicit_delta_w,
    lemma1_error,
    make_prompt,
    random_prompt,
    random_stack,
    relative_error,
    theorem1_errors,
    trajectory,
    trajectory_norms,
    truncate_layer,
    truncation_sweep,
)

__all__ = [
    "LinearAttentionStack",
    "Trajectory",
    "forward",
    "implicit_delta_w",
    "lemma1_error",
    "make_prompt",
    "random_prompt",
    "random_stack",
    "relative_error",
    "theorem1_errors",
    "trajectory",
    "trajectory_norms",
    "truncate_layer",
    "truncation_sweep",
]
