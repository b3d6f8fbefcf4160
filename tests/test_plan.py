"""The build plan: the parameters papermill runs, points counted once across chapters, estimates that shrink as
points are stored, and the README record written from verdict files."""


import pytest
import yaml

from svd_icl.plan import ROOT, Need, Planner, chapter_needs, chapter_parameters, main, toc_chapters
from svd_icl.summary import record_markdown
from svd_icl.sweep import SweepConfig, run_sweep
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


def _need(checkpoint, **change) -> Need:
    config = dict(model=str(checkpoint / "model"), task="sst2", layers=[0, -1], modules=["attn", "mlp"],
                  clip_rates=[0.0, 0.5, 0.9], shots=2, n=12, data_root=str(checkpoint / "data"))  # fmt: skip
    config.update(change)
    return Need("ch", "tiny", "sweep", config=SweepConfig(**config))


def test_stored_and_shared_points_cost_nothing(checkpoint, tmp_path):
    need = _need(checkpoint)
    planner = Planner(tmp_path)
    cold = planner.evaluate(need)
    assert (cold.total, cold.stored) == (12, 0) and cold.seconds > 0
    # a second need over a subset of the same points, later in the build: all of it comes from the first
    planner_again = Planner(tmp_path)
    planner_again.evaluate(_need(checkpoint))
    subset = planner_again.evaluate(_need(checkpoint, layers=[-1], clip_rates=[0.0, 0.9]))
    assert subset.stored == subset.total == 4 and subset.seconds == 0 and subset.extra["shared"] == 4
    # after the sweep ran, everything is stored (the unpruned copies included) and nothing is left
    run_sweep(tiny_model("llama"), tiny_tokenizer(), need.config, tmp_path / "sweeps.jsonl", progress=False)
    warm = Planner(tmp_path).evaluate(_need(checkpoint))
    assert (warm.total, warm.stored, warm.seconds) == (12, 12, 0)
    # one more clip rate: only its points are left, and they cost less than the whole sweep did
    more = Planner(tmp_path).evaluate(_need(checkpoint, clip_rates=[0.0, 0.5, 0.9, 0.99]))
    assert more.stored == 12 and more.total == 16 and 0 < more.seconds < cold.seconds


def _design(sets=2, queries=4, tuned=4):
    from svd_icl.confirm import Design

    return Design((sets,), queries, tuned)


def test_confirmations_on_the_same_queries_share_their_unpruned_points(checkpoint, tmp_path):
    """Algorithm 1's confirmations run on Figure 1's query blocks and fresh sets: their unpruned and 0-shot points
    are the earlier confirmation's, but a pick is a pick of one module. The plan prices the points
    :func:`svd_icl.confirm.confirmation_configs` lists, the function the chapters run."""
    from svd_icl.confirm import Selection, confirm

    base = {"model": str(checkpoint / "model"), "task": "sst2", "shots": 2, "seed": 0, "layers": [-1],
            "design": _design(), "data_root": str(checkpoint / "data")}  # fmt: skip

    def need(**extra):
        return Need("ch", "tiny", "confirmation", extra={**base, **extra})

    planner = Planner(tmp_path)
    first, mlp = planner.evaluate(need()), planner.evaluate(need(module="mlp"))
    # 2 sets and 1 tuned block, each an unpruned and a picked point, and the 0-shot points of the 2 blocks
    assert first.total == 8 and first.stored == 0 and mlp.stored == 5 and 0 < mlp.seconds < first.seconds
    confirm(tiny_model("llama"), tiny_tokenizer(), Selection(base["model"], "sst2", 2, "mlp", 0.5),
            tmp_path / "sweeps.jsonl", 2, 0, base["design"], 2, data_root=base["data_root"], progress=False)
    later = Planner(tmp_path)
    done, attn = later.evaluate(need(module="mlp")), later.evaluate(need(module="attn"))
    assert (done.stored, done.total, done.seconds) == (8, 8, 0) and attn.stored == 5 and attn.seconds > 0


def test_a_zero_shot_confirmation_is_the_tuned_rows_and_is_stored_whole_by_confirm(checkpoint, tmp_path):
    """At 0 shots there are no demonstrations to vary: the confirmation is the pick and the unpruned model (which is
    the 0-shot reference itself) on the tuned arm's blocks, and :func:`svd_icl.confirm.confirm` stores exactly
    those."""
    from svd_icl.confirm import Selection, confirm

    params = chapter_parameters("fig2", "smoke")
    zero = next(n for n in chapter_needs("fig2", params) if n.kind == "confirmation" and n.extra["shots"] == 0)
    e = {**zero.extra, "model": str(checkpoint / "model"), "data_root": str(checkpoint / "data"),
         "design": _design()}  # fmt: skip
    need = Need("fig2", "tiny 0 shots", "confirmation", extra=e)
    cold = Planner(tmp_path).evaluate(need)
    assert (cold.total, cold.stored) == (2, 0) and cold.seconds > 0
    two = Planner(tmp_path).evaluate(Need("fig2", "tiny 2 shots", "confirmation", extra={**e, "shots": 2}))
    assert two.total == 8  # with demonstrations: 2 fresh sets and the tuned prompt, and the 0-shot references
    confirm(tiny_model("llama"), tiny_tokenizer(), Selection(e["model"], "sst2", 1, "mlp", 0.5),
            tmp_path / "sweeps.jsonl", 0, 0, e["design"], 2, data_root=e["data_root"], progress=False)
    warm = Planner(tmp_path).evaluate(need)
    assert (warm.stored, warm.seconds) == (2, 0)


def test_the_deepest_layer_rule_is_priced_only_where_it_differs_and_only_for_its_own_picks(checkpoint, tmp_path):
    """Figure 4's comparison with the deepest-layer rule: its confirmation needs the rule's picks on every fresh set
    (at the deepest layer; Algorithm 1's pick at another layer does not count), and nothing where the two rules
    agree: Algorithm 1 already picks the deepest layer, or the rule's own search kept the unpruned model."""
    import pandas as pd

    from svd_icl.conditioning import condition_table_path
    from svd_icl.confirm import Selection, confirm
    from svd_icl.plan import _layers

    model = str(checkpoint / "model")
    L = _layers(model)
    e = {"model": model, "task": "sst2", "module": "mlp", "shots": 2, "seed": 0, "layers": [-1],
         "design": _design(), "data_root": str(checkpoint / "data"), "depth_rule": True, "alg1_k": 1,
         "aggregate": "max", "grid": [0.0, 0.5], "n_validation": 8, "n_test": 10}  # fmt: skip
    need = Need("fig4", "rule", "confirmation", extra=e)
    cold = Planner(tmp_path).evaluate(need)
    assert (cold.total, cold.stored) == (2, 0) and cold.seconds > 0

    def stored_after(layer: int) -> int:
        confirm(tiny_model("llama"), tiny_tokenizer(), Selection(model, "sst2", layer, "mlp", 0.5),
                tmp_path / "sweeps.jsonl", 2, 0, e["design"], 2, tuned=False, data_root=e["data_root"],
                progress=False)  # fmt: skip
        return Planner(tmp_path).evaluate(Need("fig4", "rule", "confirmation", extra=e)).stored

    assert stored_after(0) == 0 and stored_after(L - 1) == 2  # Algorithm 1's pick at layer 0 is not the rule's
    # the rule's run kept the unpruned model: nothing to confirm
    kept = tmp_path / "kept"
    kept.mkdir()
    from svd_icl.algorithm1 import KEY_FIELDS, run_fields
    from svd_icl.results import ResultStore

    run = {**run_fields(model, "sst2", "mlp", 0, L, "max", (0.0, 0.5), 2, 8, 10), "best_clip_rate": 0.0}
    ResultStore(kept / "algorithm1.jsonl", KEY_FIELDS, kind="algorithm1").append(run)
    assert Planner(kept).evaluate(Need("fig4", "rule", "confirmation", extra=e)).total == 0
    # Algorithm 1 already picks the deepest layer (its worst-conditioned MLP is the last one): the rules agree
    agree = tmp_path / "agree"
    agree.mkdir()
    cond = pd.DataFrame([{"layer": la, "module": "mlp", "matrix": "up", "cond": 1.0 + la} for la in range(L)])
    cond.to_csv(condition_table_path(agree, model), index=False)
    for kind in ("confirmation", "algorithm1"):
        skipped = Planner(agree).evaluate(Need("fig4", "rule", kind, "algorithm1.jsonl" if kind == "algorithm1"
                                               else "sweeps.jsonl", total=2, extra={**e, "k": L, "seeds": [0]}))
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

    need = Planner(tmp_path).evaluate(_need(checkpoint))
    assert fill([need], tmp_path, "local", workers=1) == 12
    after = Planner(tmp_path).evaluate(_need(checkpoint))
    assert (after.stored, after.seconds) == (12, 0)
    # the notebook's own call now finds every point and computes none
    lines = (tmp_path / "sweeps.jsonl").read_text().count("\n")
    points = run_sweep(tiny_model("llama"), tiny_tokenizer(), need.config, tmp_path / "sweeps.jsonl", progress=False)
    assert len(points) == 12 and (tmp_path / "sweeps.jsonl").read_text().count("\n") == lines


def test_an_algorithm1_confirmation_plans_nothing_when_the_search_kept_the_unpruned_model(checkpoint, tmp_path):
    """Figure 4 confirms nothing for a run whose search kept xi* = 0 (``confirm.algorithm1_selection`` is None): the
    plan must not count points the chapter never computes (it would never reach 'all stored')."""
    from svd_icl.algorithm1 import KEY_FIELDS, run_fields
    from svd_icl.results import ResultStore

    model = str(checkpoint / "model")
    e = {"model": model, "task": "sst2", "module": "mlp", "shots": 2, "seed": 0, "layers": [-1],
         "design": _design(), "data_root": str(checkpoint / "data"), "k": 3, "grid": [0.0, 0.5],
         "n_validation": 8, "n_test": 10, "aggregate": "max"}  # fmt: skip
    cold = Planner(tmp_path).evaluate(Need("fig4", "alg1", "confirmation", extra=e))
    assert (cold.total, cold.stored) == (8, 0) and cold.seconds > 0  # not searched yet: priced in full
    run = {**run_fields(model, "sst2", "mlp", 0, 3, "max", (0.0, 0.5), 2, 8, 10), "best_clip_rate": 0.5}
    store = ResultStore(tmp_path / "algorithm1.jsonl", KEY_FIELDS, kind="algorithm1")
    store.append({**run, "k": 2, "best_clip_rate": 0.0})  # another k's run: not this need's
    store.append({**run, "aggregate": "mean", "best_clip_rate": 0.0})  # another aggregate: not this need's either
    assert Planner(tmp_path).evaluate(Need("fig4", "alg1", "confirmation", extra=e)).total == 8
    store.append({**run, "best_clip_rate": 0.0})
    kept = Planner(tmp_path).evaluate(Need("fig4", "alg1", "confirmation", extra=e))
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
    needs = [Planner(tmp_path).evaluate(need)]
    assert stored_compute(needs, tmp_path) == (seconds, 0.0) and check(needs, tmp_path) == []
    stale = {**store.records()[0], "n": 99, "split": "test", "seconds": 1000.0}  # left by earlier parameters
    store.append(stale)
    needs = [Planner(tmp_path).evaluate(need)]
    assert stored_compute(needs, tmp_path) == (seconds, 0.0)
    assert any("no chapter planned" in p and "n=99" in p for p in check(needs, tmp_path))
    from svd_icl.confirm import Design

    test_need = Need("ch", "c", "confirmation", extra={"model": stale["model"], "task": "sst2",
                                                        "design": Design((2,), cap=99)})  # fmt: skip
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
    assert parameter_files("fig3", "full") == [] and parameter_files("fig1", "default") == []
    assert profiles_main(["fig1", "fast"]) == 2 and "unknown profile 'fast'" in capsys.readouterr().err
    script = (ROOT / "ci" / "build_book.sh").read_text()
    assert "python -m svd_icl.profiles" in script and "params/$name" not in script
