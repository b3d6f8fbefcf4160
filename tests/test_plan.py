"""The build plan: the parameters papermill runs, points counted once across chapters, estimates that shrink as
points are stored, and the README record written from verdict files."""

import dataclasses

import pytest
import yaml

from svd_icl.plan import ROOT, Planner, Priced, Shapes, chapter_parameters, chapter_work, main, toc_chapters
from svd_icl.summary import record_markdown
from svd_icl.sweep import SweepConfig, run_sweep
from svd_icl.work import Algorithm1Run, Confirmation, Sweep
from tests.tiny_models import tiny_model, tiny_tokenizer


def test_parameters_are_the_notebook_defaults_under_the_profile_file():
    chapters = toc_chapters()
    assert chapters[0] == "precision" and chapters[-1] == "summary" and "fig1" in chapters
    default = chapter_parameters("fig1")
    smoke = chapter_parameters("fig1", "smoke")
    overrides = yaml.safe_load((ROOT / "params" / "fig1" / "smoke.yaml").read_text())
    assert smoke["runs"] == overrides["runs"] and smoke["n_search"] == overrides["n_search"]
    assert smoke["modules"] == default["modules"]  # not in the file: the notebook's default
    assert chapter_parameters("fig3", "full") == chapter_parameters("fig3")  # no full.yaml: defaults
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        chapter_parameters("fig1", "fast")


def _need(checkpoint, **change) -> Sweep:
    config = dict(model=str(checkpoint / "model"), task="sst2", layers=[0, -1], modules=["attn", "mlp"],
                  clip_rates=[0.0, 0.5, 0.9], shots=2, n=12, data_root=str(checkpoint / "data"))  # fmt: skip
    config.update(change)
    return Sweep(chapter="ch", label="tiny", config=SweepConfig(**config))


def test_stored_and_shared_points_cost_nothing(checkpoint, tmp_path):
    need = _need(checkpoint)
    planner = Planner(tmp_path)
    cold = planner.price(need)
    assert (cold.total, cold.stored) == (12, 0) and cold.seconds > 0
    # a second sweep over a subset of the same points, later in the build: all of it comes from the first
    planner_again = Planner(tmp_path)
    planner_again.price(_need(checkpoint))
    subset = planner_again.price(_need(checkpoint, layers=[-1], clip_rates=[0.0, 0.9]))
    assert subset.stored == subset.total == 4 and subset.seconds == 0 and subset.shared == 4
    # after the sweep ran, everything is stored (the unpruned copies included) and nothing is left
    run_sweep(tiny_model("llama"), tiny_tokenizer(), need.config, tmp_path / "sweeps.jsonl", progress=False)
    warm = Planner(tmp_path).price(_need(checkpoint))
    assert (warm.total, warm.stored, warm.seconds) == (12, 12, 0)
    # one more clip rate: only its points are left, and they cost less than the whole sweep did
    more = Planner(tmp_path).price(_need(checkpoint, clip_rates=[0.0, 0.5, 0.9, 0.99]))
    assert more.stored == 12 and more.total == 16 and 0 < more.seconds < cold.seconds


def _design(sets=2, queries=4, tuned=4):
    from svd_icl.confirm import Design

    return Design((sets,), queries, tuned)


def test_confirmations_on_the_same_queries_share_their_unpruned_points(checkpoint, tmp_path):
    """Algorithm 1's confirmations run on Figure 1's query blocks and fresh sets: their unpruned and 0-shot points
    are the earlier confirmation's, but a pick is a pick of one module. The plan prices the points
    :func:`svd_icl.confirm.confirmation_configs` lists, the function the chapters run."""
    base = _confirmation(checkpoint)

    def need(**change):
        return dataclasses.replace(base, **change)

    planner = Planner(tmp_path)
    first, mlp = planner.price(need()), planner.price(need(module="mlp"))
    # 2 sets and 1 tuned block, each an unpruned and a picked point, and the 0-shot points of the 2 blocks
    assert first.total == 8 and first.stored == 0 and mlp.stored == 5 and 0 < mlp.seconds < first.seconds
    _store_confirmation(tmp_path, base, layer=2)
    later = Planner(tmp_path)
    done, attn = later.price(need(module="mlp")), later.price(need(module="attn"))
    assert (done.stored, done.total, done.seconds) == (8, 8, 0) and attn.stored == 5 and attn.seconds > 0


def _store_confirmation(results, unit: Confirmation, layer: int) -> None:
    """Run :func:`svd_icl.confirm.confirm` on the tiny model for ``unit`` (its MLP at layer ``layer``, xi = 0.5,
    two sets), storing its points in ``results``."""
    from svd_icl.confirm import Selection, confirm

    confirm(tiny_model("llama"), tiny_tokenizer(), Selection(unit.model, "sst2", layer, "mlp", 0.5),
            results / "sweeps.jsonl", unit.shots, unit.seed, unit.design, 2, data_root=unit.data_root,
            progress=False)  # fmt: skip


def _confirmation(checkpoint, **change) -> Confirmation:
    fields = dict(chapter="ch", label="tiny", model=str(checkpoint / "model"), task="sst2", shots=2, seed=0,
                  layers=(-1,), design=_design(), data_root=str(checkpoint / "data"))  # fmt: skip
    return Confirmation(**{**fields, **change})


def _run(checkpoint, **change) -> Algorithm1Run:
    fields = dict(chapter="fig4", label="alg1", model=str(checkpoint / "model"), task="sst2", module="mlp", seeds=(0,),
                  k=3, aggregate="max", grid=(0.0, 0.5), shots=2, n_validation=8, n_test=10,
                  data_root=str(checkpoint / "data"))  # fmt: skip
    return Algorithm1Run(**{**fields, **change})


def test_a_zero_shot_confirmation_is_the_tuned_rows_and_is_stored_whole_by_confirm(checkpoint, tmp_path):
    """At 0 shots there are no demonstrations to vary: the confirmation is the pick and the unpruned model (which is
    the 0-shot reference itself) on the tuned arm's blocks, and :func:`svd_icl.confirm.confirm` stores exactly
    those."""
    planner = Planner(tmp_path)
    params = chapter_parameters("fig2", "smoke")
    zero = next(u for u in chapter_work("fig2", params, planner) if u.kind == "confirmation" and u.shots == 0)
    need = dataclasses.replace(zero, model=str(checkpoint / "model"), data_root=str(checkpoint / "data"),
                               design=_design())  # fmt: skip
    cold = planner.price(need)
    assert (cold.total, cold.stored) == (2, 0) and cold.seconds > 0
    two = Planner(tmp_path).price(dataclasses.replace(need, shots=2))
    assert two.total == 8  # with demonstrations: 2 fresh sets and the tuned prompt, and the 0-shot references
    _store_confirmation(tmp_path, need, layer=1)
    warm = Planner(tmp_path).price(need)
    assert (warm.stored, warm.seconds) == (2, 0)


def test_the_deepest_layer_rule_is_priced_only_where_it_differs_and_only_for_its_own_picks(checkpoint, tmp_path):
    """Figure 4's comparison with the deepest-layer rule: its confirmation needs the rule's picks on every fresh set
    (at the deepest layer; Algorithm 1's pick at another layer does not count), and nothing where the two rules
    agree: Algorithm 1 already picks the deepest layer, or the rule's own search kept the unpruned model."""
    import pandas as pd

    from svd_icl.conditioning import condition_table_path
    from svd_icl.confirm import Selection, confirm

    model = str(checkpoint / "model")
    L = Shapes().depth(model)
    rule = _run(checkpoint, k=1, depth_rule=True)
    need = _confirmation(checkpoint, chapter="fig4", label="rule", module="mlp", run=rule)
    cold = Planner(tmp_path).price(need)
    assert (cold.total, cold.stored) == (2, 0) and cold.seconds > 0

    def stored_after(layer: int) -> int:
        confirm(tiny_model("llama"), tiny_tokenizer(), Selection(model, "sst2", layer, "mlp", 0.5),
                tmp_path / "sweeps.jsonl", 2, 0, need.design, 2, tuned=False, data_root=need.data_root,
                progress=False)  # fmt: skip
        return Planner(tmp_path).price(need).stored

    assert stored_after(0) == 0 and stored_after(L - 1) == 2  # Algorithm 1's pick at layer 0 is not the rule's
    # the rule's run kept the unpruned model: nothing to confirm
    kept = tmp_path / "kept"
    kept.mkdir()
    from svd_icl.algorithm1 import RUN_KEY, run_fields
    from svd_icl.results import ResultStore

    run = {**run_fields(model, "sst2", "mlp", 0, L, "max", (0.0, 0.5), 2, 8, 10), "best_clip_rate": 0.0}
    ResultStore(kept / "algorithm1.jsonl", RUN_KEY, kind="algorithm1").append(run)
    assert Planner(kept).price(need).total == 0
    # Algorithm 1 already picks the deepest layer (its worst-conditioned MLP is the last one): the rules agree
    agree = tmp_path / "agree"
    agree.mkdir()
    cond = pd.DataFrame([{"layer": la, "module": "mlp", "matrix": "up", "cond": 1.0 + la} for la in range(L)])
    cond.to_csv(condition_table_path(agree, model), index=False)
    for unit in (need, rule):
        skipped = Planner(agree).price(unit)
        assert (skipped.total, skipped.seconds) == (0, 0.0)


def test_the_cli_prints_a_table_and_rejects_a_bad_profile(capsys, tmp_path):
    assert main(["--profile", "fast", "--results", str(tmp_path)]) == 2
    assert "unknown profile 'fast'" in capsys.readouterr().err


def test_readme_record_comes_from_the_verdict_files(tmp_path):
    from svd_icl.claims.core import HOLDS, UNDETERMINED, Quantifier
    from svd_icl.claims.records import Case, Claim
    from svd_icl.summary import record

    record(tmp_path, "fig1", [
        Claim("gain", "Truncation | raises", "Fig. 1", Quantifier.SOME,
              (Case("a", UNDETERMINED, "n = 5 detects +30"),)),
        Claim("deep", "Deep layers", "Fig. 1", Quantifier.EVERY, (Case("a", HOLDS, "+16 points"),))])  # fmt: skip
    text = record_markdown(tmp_path, ["fig1", "fig2"], {"fig1": 90.0, "(whole build)": 3000.0}, "Build of abc")
    assert text.startswith("Build of abc")
    assert "**3 claims: 1 reproduced, 1 undetermined, 1 missing.**" in text
    assert "| Truncation \\| raises | Fig. 1 | **undetermined** (1 undetermined) | a: undetermined | fig1 |" in text
    assert "| (chapter not run) |  | **missing** |  | fig2 |" in text
    assert "n = 5 detects +30" not in text  # the full evidence stays in the book
    assert "| (whole build) | 50.0 min |" in text and "| fig1 | 1.5 min |" in text


def test_a_ray_cluster_fills_the_planned_points_and_the_chapter_then_computes_nothing(checkpoint, tmp_path):
    from svd_icl.plan import fill

    need = Planner(tmp_path).price(_need(checkpoint))
    assert fill([need], tmp_path, "local", workers=1) == 12
    after = Planner(tmp_path).price(_need(checkpoint))
    assert (after.stored, after.seconds) == (12, 0)
    # the notebook's own call now finds every point and computes none
    lines = (tmp_path / "sweeps.jsonl").read_text().count("\n")
    points = run_sweep(tiny_model("llama"), tiny_tokenizer(), need.unit.config, tmp_path / "sweeps.jsonl",
                       progress=False)  # fmt: skip
    assert len(points) == 12 and (tmp_path / "sweeps.jsonl").read_text().count("\n") == lines


def test_an_algorithm1_confirmation_plans_nothing_when_the_search_kept_the_unpruned_model(checkpoint, tmp_path):
    """Figure 4 confirms nothing for a run whose search kept xi* = 0 (``confirm.algorithm1_selection`` is None): the
    plan must not count points the chapter never computes (it would never reach 'all stored')."""
    from svd_icl.algorithm1 import RUN_KEY, run_fields
    from svd_icl.results import ResultStore

    model = str(checkpoint / "model")
    need = _confirmation(checkpoint, chapter="fig4", label="alg1", module="mlp", run=_run(checkpoint))
    cold = Planner(tmp_path).price(need)
    assert (cold.total, cold.stored) == (8, 0) and cold.seconds > 0  # not searched yet: priced in full
    run = {**run_fields(model, "sst2", "mlp", 0, 3, "max", (0.0, 0.5), 2, 8, 10), "best_clip_rate": 0.5}
    store = ResultStore(tmp_path / "algorithm1.jsonl", RUN_KEY, kind="algorithm1")
    store.append({**run, "k": 2, "best_clip_rate": 0.0})  # another k's run: not this need's
    store.append({**run, "aggregate": "mean", "best_clip_rate": 0.0})  # another aggregate: not this need's either
    assert Planner(tmp_path).price(need).total == 8
    store.append({**run, "best_clip_rate": 0.0})
    kept = Planner(tmp_path).price(need)
    assert (kept.total, kept.stored, kept.seconds) == (0, 0, 0.0)


def test_stored_compute_counts_the_points_the_plan_uses_and_not_what_earlier_parameters_left(checkpoint, tmp_path):
    """The README's compute figure: the records' own seconds of the points the plan uses (their test-split share
    apart), whether this build computed them or found them; a point left by other parameters (another n) is the one
    `check` reports and is not counted."""
    from svd_icl.plan import check, stored_compute
    from svd_icl.results import ResultStore
    from svd_icl.sweep import KEY_FIELDS

    need = _need(checkpoint, split="validation", n=8)  # a search: validation queries
    run_sweep(tiny_model("llama"), tiny_tokenizer(), need.config, tmp_path / "sweeps.jsonl", progress=False)
    store = ResultStore(tmp_path / "sweeps.jsonl", KEY_FIELDS)
    seconds = sum(float(r["seconds"]) for r in store.records())
    assert seconds > 0
    needs = [Planner(tmp_path).price(need)]
    assert stored_compute(needs, tmp_path) == (seconds, 0.0) and check(needs, tmp_path) == []
    stale = {**store.records()[0], "n": 99, "split": "test", "seconds": 1000.0}  # left by earlier parameters
    store.append(stale)
    needs = [Planner(tmp_path).price(need)]
    assert stored_compute(needs, tmp_path) == (seconds, 0.0)
    assert any("no chapter planned" in p and "n=99" in p for p in check(needs, tmp_path))
    from svd_icl.confirm import Design

    test_need = Priced(_confirmation(checkpoint, model=stale["model"], design=Design((2,), cap=99)))
    assert stored_compute(needs + [test_need], tmp_path) == (seconds + 1000.0, 1000.0)  # a confirmation's point


def test_the_eta_ignores_the_minutes_before_any_planned_work_was_done():
    """A warm build replots stored chapters for minutes before its first missing point: that time is not the pace
    of the work left (the ETA printed 258 min for about 115 min of work that way)."""
    from svd_icl.plan import Pace

    pace = Pace(first=6000.0, now=0.0)
    assert pace.eta(6000.0, 300.0) == 6000.0  # five minutes of stored chapters: the plan's estimate stands
    assert pace.eta(5900.0, 360.0) == 5900.0  # under 5% done: not measured yet
    # 1200 s of work done in the 1200 s since the last sample with nothing done: the estimate was right
    assert pace.eta(4800.0, 1500.0) == 4800.0
    # twice as slow as estimated: the ETA doubles
    assert Pace(6000.0, 0.0).eta(4800.0, 2400.0) == 9600.0


def test_the_build_and_the_plan_read_one_profile_table(capsys):
    """ci/build_book.sh asks svd_icl.profiles for a chapter's papermill arguments; the plan reads the same files."""
    from svd_icl.profiles import main as profiles_main
    from svd_icl.profiles import parameter_files

    assert profiles_main(["fig1", "paper-dry"]) == 0
    assert capsys.readouterr().out.split() == ["-f", "params/fig1/paper.yaml", "-f", "params/fig1/paper-dry.yaml"]
    assert parameter_files("fig3", "full") == [] and parameter_files("fig3", "default") == []
    assert parameter_files("fig1", "default") == [ROOT / "params" / "fig1" / "default.yaml"]
    assert profiles_main(["fig1", "fast"]) == 2 and "unknown profile 'fast'" in capsys.readouterr().err
    script = (ROOT / "ci" / "build_book.sh").read_text()
    assert "python -m svd_icl.profiles" in script and "params/$name" not in script


def _blank(fields: tuple[str, ...]) -> dict:
    """Every key field a store requires, unset (the store adds its own ``format``)."""
    return dict.fromkeys(f for f in fields if f != "format")


def _finished_build(checkpoint, results):
    """One unit of every kind and a results directory that holds exactly the work they declare (the sweep and the
    first look of the confirmation computed on the tiny model; the other stores written as their code writes them)."""
    from svd_icl.algorithm1 import RUN_KEY, run_fields
    from svd_icl.confirm import Design, Selection, confirm
    from svd_icl.formats import format_variants
    from svd_icl.noise import NOISE_KEY
    from svd_icl.results import ResultStore
    from svd_icl.sweep import KEY_FIELDS
    from svd_icl.work import ConditionSVDs, FormatControl, NoiseControl, PromptChoice, QuantizationTable, TrainedToys

    model, tok = tiny_model("llama"), tiny_tokenizer()
    sweep = _need(checkpoint)
    run_sweep(model, tok, sweep.config, results / "sweeps.jsonl", progress=False)
    confirmation = _confirmation(checkpoint, design=Design((2, 3), 4, 4))  # sequential: a finished build holds look 1
    confirm(model, tok, Selection(confirmation.model, "sst2", 1, "mlp", 0.5), results / "sweeps.jsonl", 2, 0,
            confirmation.design, 2, data_root=confirmation.data_root, progress=False)  # fmt: skip
    run = _run(checkpoint)
    ResultStore(results / "algorithm1.jsonl", RUN_KEY, kind="algorithm1").append(
        {**run_fields(run.model, "sst2", "mlp", 0, 3, "max", (0.0, 0.5), 2, 8, 10), "best_clip_rate": 0.5}
    )
    formats = FormatControl(chapter="ch", label="formats", model=sweep.config.model, task="sst2", shots=2, seed=0, n=12,
                            layers=(0, -1), data_root=confirmation.data_root)  # fmt: skip
    store = ResultStore(results / "formats.jsonl", KEY_FIELDS)
    for variant in format_variants(Shapes().tokenizer(formats.model)):
        for layer, xi in ((0, 0.0), (0, 0.9), (1, 0.5)):
            store.append({**_blank(KEY_FIELDS), "model": formats.model, "task": "sst2", "split": "validation",
                          "n": 12, "seed": 0, "prompt": variant, "layer": layer, "module": "mlp",
                          "clip_rate": xi})  # fmt: skip
    noise = NoiseControl(chapter="ch", label="noise", model=formats.model, task="sst2", shots=2, seed=0, n=4,
                         levels=(0.5,), noise_seed=0, layers=(0, -1), data_root=confirmation.data_root)  # fmt: skip
    for xi in (0.0, 0.5):
        ResultStore(results / "noise.jsonl", NOISE_KEY).append(
            {**_blank(NOISE_KEY), "model": noise.model, "task": "sst2", "split": "test", "n": 4, "seed": 0,
             "noise": 0.5, "noise_seed": 0, "layer": 1, "module": "mlp", "clip_rate": xi})  # fmt: skip
    (results / "cond.csv").write_text("layer\n0\n")
    (results / "linreg_a.csv").write_text("step\n0\n")
    table = ConditionSVDs(
        chapter="ch", label="condition numbers", model=formats.model, what="table", pattern="cond.csv"
    )
    toys = TrainedToys(chapter="ch", label="toys", seconds=10.0, pattern="linreg_*")
    (results / "fig2_prompt_variants_tiny.json").write_text("[]")
    choice = PromptChoice(chapter="ch", label="prompt choice", model=formats.model, task="sst2", shots=2, seed=0,
                          variants=4, n_validation=4, n_test=4, pattern="fig2_prompt_variants_tiny.json",
                          data_root=confirmation.data_root)  # fmt: skip
    (results / "quantization_tiny.csv").write_text("matrix\n")
    quant = QuantizationTable(chapter="ch", label="quantization", model=formats.model, pattern="quantization_tiny.csv")
    return [sweep, confirmation, run, formats, noise, table, toys, choice, quant]


def test_check_fails_on_a_planted_mismatch_for_every_kind_of_work(checkpoint, tmp_path):
    """``plan --check`` reads each store as the code that resumes from it does: a build that did the declared work
    passes (a sequential confirmation needs its first look only), and for every kind of unit one parameter changed
    between the declaration and what was run (a notebook disagreeing with its chapter module) fails, naming it."""
    from svd_icl.plan import check

    units = _finished_build(checkpoint, tmp_path)
    priced = [Planner(tmp_path).price(u) for u in units]
    assert check(priced, tmp_path) == []
    assert priced[1].stored < priced[1].total  # the third set of the last look was never needed
    mismatches = {
        "sweep": dataclasses.replace(units[0], config=dataclasses.replace(units[0].config, seed=1)),
        "confirmation": dataclasses.replace(units[1], seed=1),
        "algorithm1": dataclasses.replace(units[2], aggregate="mean"),
        "formats": dataclasses.replace(units[3], n=99),
        "noise": dataclasses.replace(units[4], noise_seed=1),
        "condition SVDs": dataclasses.replace(units[5], pattern="other.csv"),
        "trained toys": dataclasses.replace(units[6], pattern="theorem2/*.csv"),
        "prompt choice": dataclasses.replace(units[7], pattern="fig2_prompt_variants_other.json"),
        "quantization": dataclasses.replace(units[8], pattern="quantization_other.csv"),
    }
    assert {type(u) for u in mismatches.values()} == {type(u) for u in units}  # every kind of unit
    for i, (name, wrong) in enumerate(mismatches.items()):
        planted = [Planner(tmp_path).price(wrong if j == i else u) for j, u in enumerate(units)]
        problems = check(planted, tmp_path)
        assert any(p.startswith(f"ch: {wrong.label}:") or f"{wrong.chapter}: {wrong.label}:" in p
                   for p in problems), (name, problems)  # fmt: skip


def test_the_budget_report_keeps_the_required_work_and_names_the_looks_it_may_cut(checkpoint, tmp_path):
    """``plan --budget``: every chapter's required work and every first look always run; the further looks fit in
    the budget's remainder in build order, and the confirmations past it are named."""
    from svd_icl.confirm import Design
    from svd_icl.plan import budget_report

    planner = Planner(tmp_path)
    first = planner.price(_confirmation(checkpoint, label="first", design=Design((2, 4), 4, 4)))
    later = planner.price(_confirmation(checkpoint, label="later", seed=1, design=Design((2, 4), 4, 4)))
    assert 0 < first.required_seconds < first.seconds
    required = first.required_seconds + later.required_seconds
    one_more = (required + first.seconds - first.required_seconds) / 60 * 1.01  # room for the first one's looks only
    text = budget_report([first, later], one_more)
    assert "may stop at the budget before their last look (1): ch: later" in text
    assert "every confirmation can reach its last look" in budget_report([first, later], 1e6)
    assert "shorter than the required work" in budget_report([first, later], required / 60 / 2)


def test_the_record_sets_the_plans_estimate_beside_each_time_and_says_whether_the_cores_were_shared(tmp_path):
    """The plan saves each chapter's estimate (``--save``); the README's record sets it beside the measured time and
    says, from the watcher's log, whether another process shared the cores."""
    import importlib.util
    import json

    assert main(["--profile", "smoke", "--results", str(tmp_path), "--chapters", "theorem2,fig5",
                 "--save", str(tmp_path / "plan.json")]) == 0  # fmt: skip
    saved = json.loads((tmp_path / "plan.json").read_text())["chapters"]
    assert set(saved) == {"theorem2", "fig5"} and saved["fig5"]["seconds"] > saved["fig5"]["required_seconds"] * 0.99
    text = record_markdown(tmp_path, ["fig5"], {"fig5": 120.0, "summary": 6.0}, "Build of x",
                           estimates={"fig5": (60.0, 90.0)})  # fmt: skip
    assert "| fig5 | 2.0 min | 1.0 min | 1.5 min |" in text and "| summary | 0.1 min | | |" in text
    spec = importlib.util.spec_from_file_location("readme_record", ROOT / "ci" / "readme_record.py")
    readme_record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme_record)
    log = tmp_path / "competition.log"
    assert readme_record.competition_sentence(log, 600.0).startswith("No other process used more than half a core")
    log.write_text("20:13 fig1: python (pid 7, 180% CPU)\n20:14 fig1: python (pid 7, 170% CPU)\n")
    shared = readme_record.competition_sentence(log, 600.0)
    assert "at 2 of the watcher's about 10 minute checks" in shared and "pid 7" in shared
    # what a budget keeps for the chapters after one (ci/budget_reserve.py): their required seconds, from that file
    spec = importlib.util.spec_from_file_location("budget_reserve", ROOT / "ci" / "budget_reserve.py")
    budget_reserve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(budget_reserve)
    assert budget_reserve.reserve(tmp_path / "plan.json", "theorem2") == saved["fig5"]["required_seconds"]
    assert budget_reserve.reserve(tmp_path / "plan.json", "fig5") == 0
    assert budget_reserve.reserve(tmp_path / "missing.json", "theorem2") == 0


def test_a_bundled_models_shape_comes_from_its_file_without_converting_it(tmp_path, monkeypatch):
    """Pricing a model, or printing its size on the summary page, must not convert its GGUF (minutes for the 1.5B
    model): with an empty cache the shapes come from the file's metadata and agree with the converted model's."""
    import svd_icl.models as models

    converted = Shapes().model("smollm2-135m").config  # this machine's converted copy (setup made it)
    monkeypatch.setenv("SVD_ICL_CACHE", str(tmp_path))
    monkeypatch.setattr(models, "bundled_dir", lambda name: pytest.fail(f"{name} was converted"))
    from_file = Shapes().model("smollm2-135m").config
    fields = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
              "vocab_size", "tie_word_embeddings")  # fmt: skip
    assert {f: getattr(from_file, f) for f in fields} == {f: getattr(converted, f) for f in fields}
