"""The build plan: every unit of work each chapter declares, how much of it is stored, and the time the rest will take.

``python -m svd_icl.plan --profile default --results build/default/results`` prints, per chapter, the sweep points,
confirmation points, Algorithm 1 runs, controls and fixed steps it needs (declared once, in
``svd_icl.chapters.<name>.work``, from the notebook's parameters and the profile's files exactly as papermill gives
them), how many are already stored, and an estimate of the compute left. With ``--watch`` it prints one progress
line per interval while a build runs; with ``--check`` it fails unless every planned unit is stored (a sequential
confirmation: its first look) and every stored sweep point was planned (the test builds run it); with ``--budget MIN``
it says what a build given MIN minutes computes and may leave open.

Modules: :mod:`~svd_icl.plan.cost` (machine throughput, model shapes, the cost model), :mod:`~svd_icl.plan.planner`
(the chapters' work and its pricing against a results directory), :mod:`~svd_icl.plan.report` (tables, audit, the
compute stored), :mod:`~svd_icl.plan.watch` (progress and ETA), :mod:`~svd_icl.plan.cli`.
"""

from svd_icl.plan.cli import budget_report, fill, main
from svd_icl.plan.cost import PUBLISHED_CONFIGS, EvalCost, Machine, Shapes, evaluation_cost, model_size
from svd_icl.plan.planner import WORK, Planner, Priced, build_plan, chapter_work
from svd_icl.plan.report import check, device_table, memory_needs, plan_table, stored_compute
from svd_icl.plan.watch import Pace, competing_processes
from svd_icl.profiles import ROOT, chapter_parameters, toc_chapters

__all__ = [
    "PUBLISHED_CONFIGS", "ROOT", "WORK", "EvalCost", "Machine", "Pace", "Planner", "Priced", "Shapes", "budget_report",
    "build_plan", "chapter_parameters", "chapter_work", "check", "competing_processes", "device_table",
    "evaluation_cost", "fill", "main", "memory_needs", "model_size", "plan_table", "stored_compute", "toc_chapters",
]  # fmt: skip
