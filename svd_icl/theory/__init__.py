"""Theory utilities: the stacked linear-attention model of Sec. 3 and its implicit-gradient trajectory.

Submodules: ``linear_attention`` (Eq. 3, Lemma 1, Theorem 1; re-exported here), ``bound`` (Theorem 2's terms and
the implicit-gradient noise covariance), ``examples`` (Examples 1-4), ``toy`` (a trainable Eq. 3 transformer for
in-context regression) and ``remark5`` (truncation grids on the trained toy).
"""

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
