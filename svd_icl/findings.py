"""What the reproduction found, generated from the chapters' verdict files: the book's first page and the top of
the README open with it (``ci/build_book.sh`` writes it after the chapters ran; ``ci/readme_record.py`` puts the
same text and a compact status table in the README).

Claims are grouped as the paper makes them (the pruning effect, depth, shots, conditioning and Algorithm 1, the
theory); each group's paragraph states every recorded claim's status with its counts and the one number that
decides it (a holding case, else the case nearest to holding), and links the chapter. Nothing here is typed by
hand: a verdict file that changes changes the sentence (``tests/test_findings.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from svd_icl.claims.core import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED
from svd_icl.claims.records import Claim
from svd_icl.summary import load

CHAPTER_TITLES = {
    "fig1": "Figure 1", "fig2": "Figure 2", "scale": "the scale chapter", "fig3": "Figure 3", "fig4": "Algorithm 1",
    "theorem1": "Theorem 1", "theorem2": "Theorem 2", "fig5": "Figure 5",
}  # fmt: skip


@dataclass(frozen=True)
class Group:
    """A group of the paper's claims, by the ids of the claims the chapters record for it (prefixes)."""

    title: str
    ids: tuple[str, ...]


GROUPS = (
    Group("The pruning effect", ("fig1-gain", "fig2-gain", "scale-gain", "alg1-improves")),
    Group("Depth", ("fig1-deep", "fig1-shallow", "fig2-deep", "fig2-fewer", "scale-depth", "thm2-remark5")),
    Group("Shots", ("fig2-shots", "scale-shots", "thm1-remark1-story")),
    Group("Conditioning and Algorithm 1", ("fig3-", "alg1-rationale", "alg1-vs")),
    Group("The theory", ("thm1-", "thm2-", "fig5-")),
)


def _group_of(claim_id: str) -> str | None:
    for g in GROUPS:
        if any(claim_id.startswith(p) for p in g.ids):
            return g.title
    return None


def _link(chapter: str, style: str) -> str:
    title = CHAPTER_TITLES.get(chapter, chapter)
    if style == "myst":
        return f"[{title}](../notebooks/{chapter}.ipynb)"
    return f"{title} (`notebooks/{chapter}.ipynb`)"


def _status(claim: Claim) -> str:
    case = claim.deciding_case()
    evidence = case.effect_text() if case is not None and case.effect is not None else ""
    return f"**{claim.status}** ({claim.counts}{'; ' + evidence if evidence else ''})"


def _base_text(claim: Claim) -> str:
    """The claim without its confirmation's qualifier, for the line that states both of a confirmation's claims."""
    for cut in (" (chosen on validation", ", for the prompt the search was tuned on"):
        if cut in claim.text:
            return claim.text.split(cut)[0]
    return claim.text


def _line(chapter: str, claim: Claim, tuned: Claim | None, style: str) -> str:
    """One bullet: the claim with its status; a confirmation's two claims (over fresh prompts, the tuned prompt)
    on one line."""
    if tuned is None:
        body = f"*{claim.text}*: {_status(claim)}"
    else:
        body = (f"*{_base_text(claim)}*: over fresh prompts {_status(claim)}; for the prompt the search was tuned on "
                f"{_status(tuned)}")  # fmt: skip
    return f"- {body}. {_link(chapter, style)}."


def records_of(results_dir: str | Path, chapters: list[str]) -> list[tuple[str, Claim]]:
    return [(chapter, c) for chapter in chapters for c in load(results_dir, chapter)]


def findings_markdown(results_dir: str | Path, chapters: list[str], style: str = "myst") -> str:
    """Per group of the paper's claims a short list, every recorded claim with its status, counts, deciding number
    and chapter (a confirmation's two claims on one line); then the controls and what the book's confirmed gains
    have in common. ``style``: ``myst`` links the chapters (the book), ``plain`` names them (the README)."""
    records = records_of(results_dir, chapters)
    if not records:
        return "No chapter has recorded its verdicts yet: build the book to see what it finds."
    ids = {c.id: c for _, c in records}
    lines = []
    for g in GROUPS:
        mine = [(ch, c) for ch, c in records if _group_of(c.id) == g.title and c.control is None
                and not c.id.endswith("-tuned")]  # fmt: skip
        if mine:
            lines.append(f"**{g.title}**\n")
            lines += [_line(ch, c, ids.get(f"{c.id}-tuned"), style) for ch, c in mine]
            lines.append("")
    controls = [(ch, c) for ch, c in records if c.control is not None]
    if controls:
        survives = sum(c.status == "reproduced" for _, c in controls)
        lines.append(
            f"**Controls.** {survives} of {len(controls)} controls leave the mechanism they test standing "
            "(shape, depth, quantization noise, prompt format); the summary page lists each.\n"
        )
    lines.append(gains_paragraph(records))
    return "\n".join(lines)


def gains_paragraph(records: list[tuple[str, Claim]]) -> str:
    """What the book's confirmed gains say together: how many cases of a claimed gain hold, at how many shots, and
    how far prompts pull the effect apart (the between-set spread the over-prompts claims record)."""
    gains = [(ch, c, case) for ch, c in records if _group_of(c.id) == "The pruning effect" for case in c.cases]
    if not gains:
        return "**What the gains have in common.** No confirmed gain was recorded."
    holding = [(ch, c, case) for ch, c, case in gains if case.outcome == HOLDS and case.effect is not None]
    count = {o: sum(case.outcome == o for _, _, case in gains) for o in (FAILS, UNDETERMINED, NOT_INFORMATIVE)}
    text = (f"**What the gains have in common.** Of {len(gains)} confirmed cases of a claimed gain, {len(holding)} "
            f"hold, {count[FAILS]} are refuted (at the paper's own effect size), {count[UNDETERMINED]} are "
            f"undetermined and {count[NOT_INFORMATIVE]} are not informative (a degenerate reference prompt, or "
            "nothing to confirm).")  # fmt: skip
    if holding:
        zero = [h for h in holding if h[2].effect.shots == 0]
        text += " Those that hold: " + "; ".join(case.effect_text() for _, _, case in holding) + "."
        if len(zero) == len(holding):
            text += (
                " Every one was measured at 0 shots, with no demonstrations: there truncation helps a model "
                "answer without in-context examples, which the paper's account of truncation as better "
                "in-context learning does not cover."
            )
    tuned = [c for _, c, _ in gains if c.id.endswith("-tuned")]
    prompts = [c for _, c, _ in gains if not c.id.endswith("-tuned")]
    if tuned and prompts:
        tuned_holds = sum(case.outcome == HOLDS for c in dict.fromkeys(tuned) for case in c.cases)
        prompt_holds = sum(case.outcome == HOLDS for c in dict.fromkeys(prompts) for case in c.cases)
        text += (
            f" For the prompt each search was tuned on (the paper's procedure) {tuned_holds} case(s) hold; over "
            f"fresh prompts {prompt_holds} do."
        )
    return text


def prompts_paragraph(records: list[tuple[str, Claim]]) -> str:
    """How much the prompt moves the confirmed effect: the between-set spread (tau) over fresh demonstration sets,
    and the cases whose verdict for the prompt the search was tuned on differs from the verdict over fresh
    prompts (where selection along the prompt axis shows)."""
    ids = {c.id: c for _, c in records}
    over = [(c, case) for _, c in records if _group_of(c.id) == "The pruning effect" and not c.id.endswith("-tuned")
            for case in c.cases if case.effect is not None and case.effect.tau is not None]  # fmt: skip
    if not over:
        return ""
    taus = sorted(case.effect.tau for _, case in over)
    text = (f"**How much the prompt matters.** Over fresh demonstration sets the chosen truncation's effect varies "
            f"from one prompt to the next with a standard deviation of {taus[0]:.1%} to {taus[-1]:.1%} (median "
            f"{taus[len(taus) // 2]:.1%}) across the {len(taus)} confirmed cases.")  # fmt: skip
    differ = []
    for c, case in over:
        tuned = ids.get(f"{c.id}-tuned")
        twin = next((x for x in tuned.cases if x.name == case.name), None) if tuned is not None else None
        if twin is not None and twin.outcome != case.outcome:
            differ.append(f"{case.name} ({twin.outcome} for the tuned prompt, {case.outcome} over fresh prompts)")
    if differ:
        text += (f" In {len(differ)} case(s) the verdict for the prompt the search was tuned on differs from the one "
                 f"over fresh prompts: {'; '.join(differ)}. A gain measured on one prompt is a statement about that "
                 "prompt.")  # fmt: skip
    return text


def outlook(records: list[tuple[str, Claim]]) -> str:
    """One sentence per group on what could change at the paper's scale (6-7B parameters in float16, full test
    splits), conditioned on the verdicts recorded here."""
    from svd_icl.reported import algorithm1_reported

    by_group: dict[str, list[Claim]] = {}
    for _, c in records:
        if c.control is None and (g := _group_of(c.id)) is not None:
            by_group.setdefault(g, []).append(c)
    paper = algorithm1_reported().change * 100
    lines = []
    gains = by_group.get("The pruning effect", [])
    open_cases = [case for c in gains for case in c.cases if case.outcome == UNDETERMINED and case.effect is not None
                  and case.effect.mde is not None]  # fmt: skip
    refuted = sum(case.outcome == FAILS for c in gains for case in c.cases)
    if open_cases:
        mdes = sorted(case.effect.mde * 100 for case in open_cases)
        lines.append(f"*The pruning effect*: the undetermined cases here detect gains of +{mdes[0]:.1f} to "
                     f"+{mdes[-1]:.1f} points, while the paper's Tables 2-8 report changes of {paper.min():+.1f} to "
                     f"{paper.max():+.1f} points (median {paper.median():+.1f}); at these models' size and query "
                     "counts the book cannot resolve effects of the paper's typical size, which the paper profile "
                     "(6-7B models, full test splits, on a GPU) could.")  # fmt: skip
    if refuted:
        lines.append(f"*The pruning effect*: {refuted} case(s) exclude even the paper's smallest change for the same "
                     "task and module on these models; whether 6-7B models behave differently is the paper "
                     "profile's question.")  # fmt: skip
    depth = by_group.get("Depth", [])
    if depth:
        done = sum(c.status == "reproduced" for c in depth)
        lines.append(f"*Depth*: {done} of {len(depth)} depth claims are reproduced here (135M-1.5B and the trained "
                     "toy); " + ("none is refuted, so nothing here suggests the ordering depends on size."
                                 if not any(c.status == "not reproduced" for c in depth) else
                                 "where one is refuted the paper's Figure 1 shows the ordering at 6-7B, which the "
                                 "paper profile re-decides."))  # fmt: skip
    if by_group.get("Shots"):
        lines.append(
            "*Shots*: whether demonstrations help is a property of each model (a code model at 1.5B, "
            "small instruction-tuned ones here); these verdicts are about these models."
        )
    if by_group.get("Conditioning and Algorithm 1"):
        lines.append(
            "*Conditioning and Algorithm 1*: condition numbers are computed from the weights, so the "
            "paper profile re-decides these on GPT-J-6B and LLaMA2-7B themselves rather than by "
            "extrapolation; Algorithm 1's confirmations are bound by the same query counts as the gains."
        )
    if by_group.get("The theory"):
        lines.append(
            "*The theory*: the identities and bounds are checked on constructed and trained toys and do "
            "not depend on a language model's size."
        )
    return "**What could change at the paper's scale.** " + " ".join(lines) if lines else ""


def models_frame() -> pd.DataFrame:
    """The book's models beside the paper's: parameters, decoder layers and the format they are run in."""
    from svd_icl.models import BUNDLED
    from svd_icl.plan import PUBLISHED_CONFIGS, model_size

    def size(params: int) -> str:
        return f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"

    rows = []
    for name, m in BUNDLED.items():
        params, layers = model_size(name)
        fmt = m.description.split(", ")[-1].split(" (")[0]
        rows.append((name, size(params), layers, f"{fmt}, de-quantized, float32", "this book"))
    for name in PUBLISHED_CONFIGS:
        params, layers = model_size(name)
        rows.append((name, size(params), layers, "float16", "the paper (`paper` profile)"))
    return pd.DataFrame(rows, columns=["Model", "Parameters", "Layers", "Format", "In"])


def models_table() -> str:
    """:func:`models_frame` as a Markdown pipe table, for a MyST page (a notebook shows the frame itself: myst-nb
    parses Markdown outputs as CommonMark, which has no tables)."""
    frame = models_frame()
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def write(results_dir: str | Path, chapters: list[str], out: str | Path) -> str:
    """Write the book's findings include (``out``) and return its text."""
    text = findings_markdown(results_dir, chapters)
    Path(out).write_text(text + "\n")
    return text


def forest(results_dir: str | Path, chapters: list[str], out: str | Path) -> None:
    """The forest plot of every confirmed effect (:func:`svd_icl.plots.forest_plot`) as a PNG for the first page; a
    figure that says so when no chapter recorded an effect."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from svd_icl.plots import forest_plot
    from svd_icl.summary import effects

    measured = effects(results_dir, chapters)
    if len(measured):
        fig = forest_plot(measured)
    else:
        fig, ax = plt.subplots(figsize=(6, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "No chapter recorded a confirmed effect.", ha="center", va="center")
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m svd_icl.findings RESULTS OUTDIR [CHAPTER ...]``: write ``findings.inc`` and ``forest.png`` for the
    book's first page from a build's verdict files, and ``models.inc`` (the book's models beside the paper's) for
    the how-to page (``ci/build_book.sh`` runs it after the chapters)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("results", help="the build's results directory (its verdicts/ folder)")
    parser.add_argument("outdir", help="where findings.inc and forest.png go (the book's source folder)")
    parser.add_argument("chapters", nargs="*", default=list(CHAPTER_TITLES), help="chapters in order")
    args = parser.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    write(args.results, args.chapters, out / "findings.inc")
    forest(args.results, args.chapters, out / "forest.png")
    (out / "models.inc").write_text(models_table() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
