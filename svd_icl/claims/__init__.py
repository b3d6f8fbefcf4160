"""Every verdict the book states: one decision core (:mod:`svd_icl.claims.core`: the rule, margins, detectable
effects, families, intervals) and one module per chapter's claims over it, re-exported here so that a chapter
imports ``from svd_icl.claims import ...``. Nothing below this package imports it."""

from svd_icl.analysis import group_fields
from svd_icl.claims.core import *  # noqa: F403  (the decision core, re-exported whole)
from svd_icl.claims.core import __all__ as _core_names
from svd_icl.claims.fig1 import (
    can_improve,
    collapse_evidence,
    confirmation_verdicts,
    depth_stability,
    describe_confirmation,
    describe_fig1,
    shallow_collapse,
)
from svd_icl.claims.fig2 import (
    choose_variant,
    collapse_grows_with_shots,
    describe_fig2,
    describe_variants,
    shots_help,
    variant_tests,
)
from svd_icl.claims.fig3 import (
    describe_null,
    describe_trends,
    describe_uniform_trends,
    fig3_null_verdicts,
    fig3_verdicts,
    share_evidence,
    trend_evidence,
    uniform_quant_trends,
    uniform_trend_outcome,
)
from svd_icl.claims.fig4 import (
    algorithm1_confirmed,
    algorithm1_tests,
    condition_gain,
    condition_gain_evidence,
    depth_rule_comparison,
    describe_algorithm1_confirmation,
    describe_condition_gain,
    describe_depth_rule,
    partial_spearman,
)
from svd_icl.claims.fig5 import fig5_verdicts
from svd_icl.claims.formats import describe_formats, format_claim, format_robustness
from svd_icl.claims.noise import describe_noise, describe_requantization, noise_effects
from svd_icl.claims.points import (
    COLLAPSE_MARGIN,
    baseline,
    case_evidence,
    collapsed,
    correctness,
    effect,
    first_queries,
    point_tests,
)
from svd_icl.claims.precision import claim_outcomes, outcomes_by_dtype
from svd_icl.claims.quantization import COMPARABLE, describe_confound, quantization_confound
from svd_icl.claims.scale import describe_scale, describe_smaller_confirmation
from svd_icl.claims.theorem1 import rank_story_verdict, theorem1_verdicts
from svd_icl.claims.theorem2 import (
    assumption1_verdicts,
    bound_tracking,
    examples_findings,
    gap_status,
    learning_curve_findings,
    remark5_findings,
    theorem2_gap_verdicts,
    toy_improvement,
    toy_improvement_evidence,
)

__all__ = [
    *_core_names,
    "format_robustness",
    "noise_effects",
    "describe_formats",
    "describe_noise",
    "describe_requantization",
    "format_claim",
    "partial_spearman",
    "fig3_null_verdicts",
    "describe_null",
    "toy_improvement",
    "toy_improvement_evidence",
    "remark5_findings",
    "learning_curve_findings",
    "gap_status",
    "examples_findings",
    "bound_tracking",
    "COLLAPSE_MARGIN",
    "COMPARABLE",
    "algorithm1_confirmed",
    "algorithm1_tests",
    "assumption1_verdicts",
    "baseline",
    "can_improve",
    "case_evidence",
    "choose_variant",
    "claim_outcomes",
    "collapse_evidence",
    "collapse_grows_with_shots",
    "collapsed",
    "condition_gain",
    "condition_gain_evidence",
    "confirmation_verdicts",
    "correctness",
    "depth_rule_comparison",
    "depth_stability",
    "describe_depth_rule",
    "describe_condition_gain",
    "describe_algorithm1_confirmation",
    "describe_confirmation",
    "describe_confound",
    "describe_fig1",
    "describe_fig2",
    "describe_scale",
    "describe_smaller_confirmation",
    "describe_trends",
    "describe_uniform_trends",
    "describe_variants",
    "effect",
    "first_queries",
    "fig3_verdicts",
    "fig5_verdicts",
    "group_fields",
    "outcomes_by_dtype",
    "point_tests",
    "quantization_confound",
    "rank_story_verdict",
    "shallow_collapse",
    "share_evidence",
    "shots_help",
    "theorem1_verdicts",
    "theorem2_gap_verdicts",
    "trend_evidence",
    "uniform_quant_trends",
    "uniform_trend_outcome",
    "variant_tests",
]
