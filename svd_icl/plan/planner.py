"""Counting what each chapter's work has stored and pricing the rest.

:data:`WORK` maps each chapter to the function that declares its work (``svd_icl.chapters.<name>.work``);
:class:`Planner` prices one unit at a time (:meth:`Planner.price`, dispatched on the unit's type) against a results
directory, with the same store matchers the code that resumes from those stores uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache, singledispatchmethod
from pathlib import Path

from svd_icl.chapters import fig1, fig2, fig3, fig4, fig5, precision, scale, theorem1, theorem2
from svd_icl.conditioning import condition_table_path
from svd_icl.plan.cost import (
    QUANTIZATION_FLOPS_PER_WEIGHT,
    SVDVALS_FLOPS_PER_MNK,
    EvalCost,
    Machine,
    Shapes,
    evaluation_cost,
    svd_seconds,
)
from svd_icl.plan.priced import Priced
from svd_icl.profiles import chapter_parameters, toc_chapters
from svd_icl.results import ResultStore, record_key
from svd_icl.sweep import KEY_FIELDS, SweepConfig, SweepPlan, absolute_layer, prompt_plan, unpruned_record
from svd_icl.work import (
    Algorithm1Run,
    ConditionSVDs,
    Confirmation,
    Facts,
    FormatControl,
    NoiseControl,
    PromptChoice,
    QuantizationTable,
    Sweep,
    TrainedToys,
    Unit,
)

# Each chapter's declaration of its work (chapters with no priced work, the summary, are absent).
WORK: dict[str, Callable[[dict, Facts], list[Unit]]] = {
    "precision": precision.work, "fig3": fig3.work, "fig1": fig1.work, "fig2": fig2.work, "scale": scale.work,
    "fig4": fig4.work, "theorem1": theorem1.work, "theorem2": theorem2.work, "fig5": fig5.work,
}  # fmt: skip


class Planner:
    """Prices units against a results directory; keeps prompt plans, stores and model shapes between calls
    (``--watch`` prices the whole book every interval)."""

    def __init__(self, results: str | Path, machine: Machine | None = None, shapes: Shapes | None = None):
        self.results = Path(results)
        self.machine = machine or Machine()
        self.shapes = shapes or Shapes()
        self._plans: dict[str, SweepPlan] = {}
        self._stores: dict[str, ResultStore] = {}
        self.reset()

    # --- what a chapter's work depends on (the Facts its declaration reads)
    def depth(self, model: str) -> int:
        return self.shapes.depth(model)

    def speedup(self, other: str, reference: str) -> float:
        return self.machine.speedup(other, reference)

    def reset(self) -> None:
        """Forget what earlier units planned (a new pass over the book)."""
        self.planned: dict[str, set] = {}
        self.planned_unpruned: set[str] = set()

    def store(self, name: str, kind: str = "sweep") -> ResultStore | None:
        path = self.results / name
        if not path.exists():
            return None
        if name not in self._stores:
            from svd_icl.algorithm1 import RUN_KEY
            from svd_icl.noise import NOISE_FILE, NOISE_KEY

            fields = RUN_KEY if kind == "algorithm1" else NOISE_KEY if name == NOISE_FILE else KEY_FIELDS
            self._stores[name] = ResultStore(path, fields, kind=kind)
        return self._stores[name]

    def prompt_plan(self, config: SweepConfig, dtype: str = "float32") -> SweepPlan:
        key = repr((config, dtype))
        if key not in self._plans:
            name = config.model
            self._plans[key] = prompt_plan(self.shapes.tokenizer(name), config, dtype, "cpu", self.depth(name))
        return self._plans[key]

    def cost(self, config: SweepConfig, dtype: str = "float32") -> EvalCost:
        plan = self.prompt_plan(config, dtype)
        return evaluation_cost(self.shapes.layer_flops(config.model), plan, self.machine.throughput(dtype), dtype)

    def truncation_seconds(self, model: str, module: str) -> float:
        """One layer's SVDs of ``module`` (a truncation's fixed cost)."""
        return svd_seconds(self.shapes.matrices(model, module), self.machine.throughput())

    # --- pricing, one method per kind of unit
    def _file_unit(self, unit: Unit) -> Priced:
        """A unit stored as one file matching ``unit.pattern`` (SVD tables, quantization tables, trained toys, the
        prompt-format check): one to compute, stored when the file exists; the caller prices it when missing."""
        return Priced(unit, total=1, stored=int(any(self.results.glob(unit.pattern))))

    @singledispatchmethod
    def price(self, unit: Unit) -> Priced:
        raise TypeError(f"no pricing for {type(unit).__name__}: register one with @Planner.price.register")

    @price.register
    def price_sweep(self, unit: Sweep) -> Priced:
        """Points stored, or planned by an earlier unit (another chapter computes them first: same key, same file),
        count as stored; the estimate covers the units the sweep will run."""
        plan = self.prompt_plan(unit.config, unit.dtype)
        store = self.store(unit.store)
        stored = store.done() if store else set()
        earlier = self.planned.setdefault(unit.store, set())
        prompt_set = unit.store + json.dumps(plan.common, sort_keys=True, default=str)
        have = (store is not None and unpruned_record(store.records(), plan) is not None) or (
            prompt_set in self.planned_unpruned
        )
        wanted = plan.wanted(point_key)
        pending = plan.pending(stored | earlier, point_key, have)
        missing = sum(len(rates) for _, _, rates in pending)
        priced = Priced(unit, total=len(wanted), shared=len((wanted & earlier) - stored))
        priced.stored = max(0, priced.total - missing - _copies_pending(plan, pending, stored | earlier))
        earlier |= wanted
        if 0.0 in plan.config.clip_rates:
            self.planned_unpruned.add(prompt_set)
        cost = self.cost(unit.config, unit.dtype)
        g = self.machine.throughput(unit.dtype)
        priced.seconds = sum(cost.unit(la, plan.num_layers, len(rates))
                             + svd_seconds(self.shapes.matrices(unit.config.model, mo), g)
                             for la, mo, rates in pending)  # fmt: skip
        return priced

    def _query_cost(self, model: str, task: str, shots: int | None, seed: int, n: int | None, split: str = "test",
                    data_root: str | None = None) -> EvalCost:  # fmt: skip
        """The evaluation cost of ``n`` rows of ``split`` with the prompt of (``shots``, ``seed``)."""
        config = SweepConfig(model, task, [0], shots=shots, seed=seed, split=split, n=n, data_root=data_root)
        return self.cost(config)

    def _mean_layer(self, model: str, layers: tuple[int, ...]) -> int:
        """The layer a pick not known yet is priced at: the mean of the searched layers."""
        L = self.depth(model)
        return round(sum(absolute_layer(x, L) for x in layers) / len(layers))

    def _stored_run(self, run: Algorithm1Run, seed: int) -> dict | None:
        """The stored Algorithm 1 run of ``run`` at ``seed``, matched on its full key (the chapter's own matcher)."""
        from svd_icl.algorithm1 import find_run, run_fields

        store = self.store(Algorithm1Run.store, "algorithm1")
        if store is None:
            return None
        fields = run_fields(run.model, run.task, run.module, seed, run.run_k(self.depth(run.model)), run.aggregate,
                            run.grid, run.shots, run.n_validation, run.n_test, run.dtype, run.device)  # fmt: skip
        return find_run(store, fields)

    def kept_unpruned(self, run: Algorithm1Run, seed: int) -> bool:
        """Did the stored run (at ``seed``) keep the unpruned model (xi* = 0)? Then the chapter has no pick to confirm.
        Not stored yet: False (a cold plan prices the confirmation, an upper bound)."""
        stored = self._stored_run(run, seed)
        return stored is not None and float(stored["best_clip_rate"]) == 0.0

    @staticmethod
    @lru_cache(maxsize=32)
    def _deepest_is_chosen(path: Path, mtime: float, module: str, k: int, aggregate: str, layers: int) -> bool:
        """Does Algorithm 1 pick the deepest layer by the condition numbers in ``path``? Cached by the file's mtime:
        ``--watch`` asks every minute, the table changes once."""
        import pandas as pd

        from svd_icl.algorithm1 import select_layer

        return select_layer(pd.read_csv(path), module, k, aggregate)[0] == layers - 1

    def rule_is_algorithm1(self, rule: Algorithm1Run) -> bool:
        """Does the deepest-layer rule pick what Algorithm 1 picks (from the condition numbers the Figure 3 chapter
        stored: the deepest layer is among Algorithm 1's)? Then the chapter has nothing to compare. Unknown (nothing
        stored yet): False, so a cold plan prices the comparison in full, an upper bound."""
        L = self.depth(rule.model)
        path = condition_table_path(self.results, rule.model)  # the table Algorithm 1's chapter reads (float32)
        return path.exists() and self._deepest_is_chosen(path, path.stat().st_mtime, rule.module, rule.k,
                                                         rule.aggregate, L)  # fmt: skip

    @price.register
    def price_algorithm1(self, unit: Algorithm1Run) -> Priced:
        if unit.depth_rule and self.rule_is_algorithm1(unit):
            return Priced(unit)  # the chapter skips the comparison: nothing to compute
        priced = Priced(unit, total=len(unit.seeds))
        priced.stored = sum(self._stored_run(unit, s) is not None for s in unit.seeds)
        L = self.depth(unit.model)
        layer = L - 1  # the deepest of the top-k: deep on these models (fig3); an upper bound on the work is layer 0
        cost = sum(self._query_cost(unit.model, unit.task, unit.shots, unit.seeds[0], n, split, unit.data_root)
                   .unit(layer, L, rates)
                   for split, n, rates in (("validation", unit.n_validation, len(unit.grid)),
                                           ("test", unit.n_test, 2)))  # fmt: skip
        priced.seconds = (priced.total - priced.stored) * (cost + self.truncation_seconds(unit.model, unit.module))
        return priced

    @staticmethod
    def _point(r: dict) -> tuple:
        """A confirmation point's place: (fresh set, query block, n, shots, unpruned?) (None offsets read as 0)."""
        return r.get("demo_set"), r.get("offset") or 0, r.get("n"), r.get("shots"), r.get("clip_rate") == 0

    def _confirmation_points(self, unit: Confirmation, sets: int, deepest: int | None) -> list[tuple]:
        """The points a confirmation of ``sets`` fresh sets stores: the sweeps
        :func:`svd_icl.confirm.confirmation_configs` lists, the function the chapters run (only the rule's picks
        for a deepest-layer rule: its unpruned points are Algorithm 1's confirmation's)."""
        from svd_icl.confirm import Selection, confirmation_configs

        placeholder = Selection(unit.model, unit.task, 0, unit.module or "mlp", 0.5)
        configs = confirmation_configs(placeholder, unit.shots, unit.seed, unit.design, sets, tuned=deepest is None,
                                       data_root=unit.data_root)  # fmt: skip
        shots = SweepConfig(unit.model, unit.task, [0], shots=unit.shots).resolved_shots
        wanted = []
        for arm, _, c in configs:
            point = (c.demo_set, c.offset, c.n, 0 if arm == "zero_shot" else shots)
            if deepest is None or arm == "zero_shot":
                wanted.append((*point, True))
            if arm != "zero_shot":
                wanted.append((*point, False))
        if deepest is not None:
            wanted = [w for w in wanted if not w[4]]
        return list(dict.fromkeys(wanted))

    @price.register
    def price_confirmation(self, unit: Confirmation) -> Priced:
        """A confirmation's points at the fixed design's size (every set of the last look: an upper bound on what the
        sequential design spends); a finished build must hold its first look. Unpruned and 0-shot points stored or
        planned by an earlier confirmation on the same queries count as stored; a pick counts only for its module
        when the unit names one."""
        run = unit.run
        if run is not None and (run.depth_rule and self.rule_is_algorithm1(run) or self.kept_unpruned(run, unit.seed)):
            return Priced(unit, first_missing=0)  # no pick to confirm, or nothing to compare: the chapter confirms none
        store = self.store(unit.store)
        records = store.records() if store else []
        deepest = self.depth(unit.model) - 1 if run is not None and run.depth_rule else None
        found = {self._point(r) for r in records
                 if r.get("model") == unit.model and r.get("task") == unit.task and r.get("split") == "test"
                 and r.get("seed") == unit.seed and r.get("demo_seed") is None
                 and (r.get("clip_rate") == 0 or unit.module in (None, r.get("module")))
                 and (deepest is None or (r.get("clip_rate") != 0 and r.get("layer") == deepest))}  # fmt: skip
        wanted = self._confirmation_points(unit, unit.design.max_sets, deepest)
        first = self._confirmation_points(unit, unit.design.looks[0], deepest)
        queries = (unit.model, unit.task, unit.seed)
        earlier = self.planned.setdefault("confirmation unpruned", set())
        shared = {w for w in wanted if w[4] and (queries, w) in earlier} - found
        earlier |= {(queries, w) for w in wanted if w[4]}
        have = found | shared
        priced = Priced(unit, total=len(wanted), stored=sum(w in have for w in wanted), shared=len(shared),
                        first_missing=sum(w not in have for w in first))  # fmt: skip
        design = unit.design
        cost = self._query_cost(
            unit.model,
            unit.task,
            unit.shots,
            unit.seed,
            design.queries if design.nested else design.cap,
            data_root=unit.data_root,
        )
        layer = deepest if deepest is not None else self._mean_layer(unit.model, unit.layers)
        L = self.depth(unit.model)

        def seconds(points: list[tuple]) -> float:
            """Per prompt and block: the layers below the pick once, then one rate per missing point from there."""
            missing: dict[tuple, int] = {}
            for w in points:
                if w not in have:
                    missing[w[:4]] = missing.get(w[:4], 0) + 1
            return sum(cost.full * 0.5 if key[3] == 0 else cost.unit(layer, L, count)
                       for key, count in missing.items())  # fmt: skip

        priced.seconds, priced.first_seconds = seconds(wanted), seconds(first)
        return priced

    @price.register
    def price_noise(self, unit: NoiseControl) -> Priced:
        """The noise control's points (unpruned and selected per level; level 0 is the confirmation's own)."""
        store = self.store(unit.store)
        records = store.records() if store else []
        found = {(r.get("noise"), r.get("clip_rate") == 0) for r in records
                 if r.get("model") == unit.model and r.get("task") == unit.task and r.get("split") == "test"
                 and r.get("n") == unit.n and r.get("seed") == unit.seed and r.get("demo_seed") is None
                 and r.get("noise_seed") == unit.noise_seed}  # fmt: skip
        priced = Priced(unit, total=2 * len(unit.levels))
        priced.stored = sum((v, z) in found for v in unit.levels for z in (True, False))
        cost = self._query_cost(unit.model, unit.task, unit.shots, unit.seed, unit.n, data_root=unit.data_root)
        depth = self._mean_layer(unit.model, unit.layers)
        priced.seconds = (priced.total - priced.stored) / 2 * cost.unit(depth, self.depth(unit.model), 2)
        return priced

    @price.register
    def price_formats(self, unit: FormatControl) -> Priced:
        """Per format variant the unpruned model, the worst shallow point and the best point of the search, on its
        validation queries (priced at layer 0 and at the mean searched layer: the points are not known before the
        search)."""
        from svd_icl.formats import format_variants

        priced = Priced(unit, total=3 * len(format_variants(self.shapes.tokenizer(unit.model))))
        store = self.store(unit.store)
        records = store.records() if store else []
        found = {(r.get("prompt"), r.get("layer"), r.get("module"), r.get("clip_rate")) for r in records
                 if r.get("model") == unit.model and r.get("task") == unit.task and r.get("split") == "validation"
                 and r.get("n") == unit.n and r.get("seed") == unit.seed}  # fmt: skip
        unpruned = {f[0] for f in found if f[3] == 0}
        priced.stored = min(priced.total, len(unpruned) + len([f for f in found if f[3] != 0]))
        cost = self._query_cost(unit.model, unit.task, unit.shots, unit.seed, unit.n, "validation", unit.data_root)
        L = self.depth(unit.model)
        per_variant = cost.unit(0, L, 2) + cost.unit(self._mean_layer(unit.model, unit.layers), L, 1)
        priced.seconds = per_variant * (priced.total - priced.stored) / 3
        return priced

    @price.register
    def price_condition_svds(self, unit: ConditionSVDs) -> Priced:
        priced = self._file_unit(unit)
        if not priced.stored:
            shapes = self.shapes.matrices(unit.model)
            if unit.what == "null":  # the Gaussian null: draws per distinct shape
                shapes = list(dict.fromkeys(shapes)) * unit.draws
            priced.seconds = svd_seconds(shapes, self.machine.throughput(), SVDVALS_FLOPS_PER_MNK)
        return priced

    @price.register
    def price_prompt_choice(self, unit: PromptChoice) -> Priced:
        """One unpruned pass per prompt format over the validation rows and one over the test rows."""
        priced = self._file_unit(unit)
        if not priced.stored:
            passes = [self._query_cost(unit.model, unit.task, unit.shots, unit.seed, n, split, unit.data_root).full
                      for split, n in (("validation", unit.n_validation), ("test", unit.n_test))]  # fmt: skip
            priced.seconds = unit.variants * sum(passes)
        return priced

    @price.register
    def price_quantization(self, unit: QuantizationTable) -> Priced:
        """Reading the model's GGUF tensors once (priced per weight)."""
        priced = self._file_unit(unit)
        if not priced.stored:
            weights = self.shapes.size(unit.model)[0]
            priced.seconds = weights * QUANTIZATION_FLOPS_PER_WEIGHT / (self.machine.throughput() * 1e9)
        return priced

    @price.register
    def price_trained_toys(self, unit: TrainedToys) -> Priced:
        priced = self._file_unit(unit)
        priced.seconds = 0.0 if priced.stored else unit.seconds / self.machine.fixed_speedup
        return priced


def point_key(record: dict) -> str:
    """A point's key as the results store computes it (the plan's points carry ``format`` already)."""
    return record_key(record, KEY_FIELDS)


def _copies_pending(plan: SweepPlan, pending, done: set[str]) -> int:
    """Unpruned points not stored yet and not computed by any unit (they will be copies of one that is)."""
    wanted0 = [plan.point(la, mo, 0.0) for la in plan.layers for mo in plan.config.modules
               if 0.0 in plan.config.clip_rates]  # fmt: skip
    missing0 = sum(point_key(p) not in done for p in wanted0)
    computed0 = sum(0.0 in rates for _, _, rates in pending)
    return missing0 - computed0


def chapter_work(name: str, params: dict, facts: Facts) -> list[Unit]:
    """The units chapter ``name`` declares under ``params`` (none for a chapter with no priced work)."""
    return WORK[name](params, facts) if name in WORK else []


def build_plan(profile: str, results: str | Path, chapters: list[str] | None = None,
               planner: Planner | None = None) -> list[Priced]:  # fmt: skip
    """Every unit of every chapter (in build order) under ``profile``, priced against ``results``."""
    planner = planner or Planner(results)
    planner.reset()
    out = []
    for name in chapters or toc_chapters():
        out += [planner.price(u) for u in chapter_work(name, chapter_parameters(name, profile), planner)]
    return out
