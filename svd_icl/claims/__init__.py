"""Every verdict the book states: one decision core (:mod:`svd_icl.claims.core`: outcomes, statuses and
quantifiers, margins, intervals, power), demonstration sets as a sampling unit (:mod:`svd_icl.claims.sets`), the
confirmation's two claims (:mod:`svd_icl.claims.confirmation`), typed claim records
(:mod:`svd_icl.claims.records`), and one module per chapter's tests over them, re-exported here so that a chapter
imports ``from svd_icl.claims import ...``. Nothing below this package imports it."""

from svd_icl.analysis import group_fields
from svd_icl.claims.confirmation import (
    confirmation_evidence,
    describe_over_sets,
    describe_tuned,
    over_sets,
    tuned_prompt,
)
from svd_icl.claims.core import *  # noqa: F403  (the decision core, re-exported whole)
from svd_icl.claims.core import __all__ as _core_names
from svd_icl.claims.fig1 import (
    can_improve,
    collapse_evidence,
    depth_stability,
    describe_fig1,
    shallow_collapse,
)
from svd_icl.claims.fig2 import (
    choose_variant,
    collapse_grows_with_shots,
    describe_fig2,
    describe_variants,
    shots_help,
    shots_help_sets,
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
    algorithm1_tests,
    condition_gain,
    condition_gain_evidence,
    depth_rule_comparison,
    describe_condition_gain,
    describe_depth_rule,
    kept_rows,
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
from svd_icl.claims.records import Case, Claim, Effect
from svd_icl.claims.scale import describe_scale
from svd_icl.claims.sets import Looks, SetEstimate, informative_set, set_interval
from svd_icl.claims.theorem1 import rank_story_verdict, theorem1_verdicts
from svd_icl.claims.theorem2 import (
    assumption1_verdicts,
    bound_tracking,
    examples_findings,
    learning_curve_findings,
    remark5_findings,
    theorem2_gap_verdicts,
    toy_improvement,
    toy_improvement_evidence,
)

__all__ = [
    *_core_names,
    "COLLAPSE_MARGIN",
    "COMPARABLE",
    "Case",
    "Claim",
    "Effect",
    "Looks",
    "SetEstimate",
    "algorithm1_tests",
    "assumption1_verdicts",
    "baseline",
    "bound_tracking",
    "can_improve",
    "case_evidence",
    "choose_variant",
    "claim_outcomes",
    "collapse_evidence",
    "collapse_grows_with_shots",
    "collapsed",
    "condition_gain",
    "condition_gain_evidence",
    "confirmation_evidence",
    "correctness",
    "depth_rule_comparison",
    "depth_stability",
    "describe_condition_gain",
    "describe_confound",
    "describe_depth_rule",
    "describe_fig1",
    "describe_fig2",
    "describe_formats",
    "describe_noise",
    "describe_null",
    "describe_over_sets",
    "describe_requantization",
    "describe_scale",
    "describe_trends",
    "describe_tuned",
    "describe_uniform_trends",
    "describe_variants",
    "effect",
    "examples_findings",
    "fig3_null_verdicts",
    "fig3_verdicts",
    "fig5_verdicts",
    "first_queries",
    "format_claim",
    "format_robustness",
    "group_fields",
    "informative_set",
    "kept_rows",
    "learning_curve_findings",
    "noise_effects",
    "outcomes_by_dtype",
    "over_sets",
    "partial_spearman",
    "point_tests",
    "quantization_confound",
    "rank_story_verdict",
    "remark5_findings",
    "set_interval",
    "shallow_collapse",
    "share_evidence",
    "shots_help",
    "shots_help_sets",
    "theorem1_verdicts",
    "theorem2_gap_verdicts",
    "toy_improvement",
    "toy_improvement_evidence",
    "trend_evidence",
    "tuned_prompt",
    "uniform_quant_trends",
    "uniform_trend_outcome",
    "variant_tests",
]
