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


def _records(results_dir: str | Path, chapters: list[str]) -> list[tuple[str, Claim]]:
    return [(chapter, c) for chapter in chapters for c in load(results_dir, chapter)]


def findings_markdown(results_dir: str | Path, chapters: list[str], style: str = "myst") -> str:
    """Per group of the paper's claims a short list, every recorded claim with its status, counts, deciding number
    and chapter (a confirmation's two claims on one line); then the controls and what the book's confirmed gains
    have in common. ``style``: ``myst`` links the chapters (the book), ``plain`` names them (the README)."""
    records = _records(results_dir, chapters)
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
        lines.append(f"**Controls.** {survives} of {len(controls)} controls leave the mechanism they test standing "
                     "(shape, depth, quantization noise, prompt format); the summary page lists each.\n")
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
            text += (" Every one was measured at 0 shots, with no demonstrations: there truncation helps a model "
                     "answer without in-context examples, which the paper's account of truncation as better "
                     "in-context learning does not cover.")
    tuned = [c for _, c, _ in gains if c.id.endswith("-tuned")]
    prompts = [c for _, c, _ in gains if not c.id.endswith("-tuned")]
    if tuned and prompts:
        tuned_holds = sum(case.outcome == HOLDS for c in dict.fromkeys(tuned) for case in c.cases)
        prompt_holds = sum(case.outcome == HOLDS for c in dict.fromkeys(prompts) for case in c.cases)
        text += (f" For the prompt each search was tuned on (the paper's procedure) {tuned_holds} case(s) hold; over "
                 f"fresh prompts {prompt_holds} do.")
    return text


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
    book's first page from a build's verdict files (``ci/build_book.sh`` runs it after the chapters)."""
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
