#!/usr/bin/env bash
# Execute every notebook with papermill, then render the book with Jupyter Book (warnings are errors).
#   bash ci/build_book.sh          # the book: each notebook at its own defaults (bundled models, real data)
#   bash ci/build_book.sh full     # the defaults plus the larger grids left out of them for time (params/*/full.yaml)
#   bash ci/build_book.sh smoke    # seconds per notebook; what the tests build
#   bash ci/build_book.sh paper    # the paper's setup (GPT-J-6B / LLaMA2-7B, needs a GPU and the Hub)
#   bash ci/build_book.sh paper-dry  # the paper's parameter files on CPU in minutes: its models mapped to random
#                                    # stand-ins of their family and depth (ci/paper_dry_models.yaml), few queries
#   bash ci/build_book.sh default --budget 30  # no confirmation starts a further look of fresh demonstration
#                                    # sets after 30 minutes (setup excluded), nor one that would leave the later
#                                    # chapters' first looks no time before then; every chapter still runs, and a
#                                    # case left open says so (svd_icl.chapters.confirmation.Budget). The default
#                                    # profile has a budget of 80 minutes (the book cold in about 90 on 2 cores);
#                                    # --budget none lifts it.
#   bash ci/build_book.sh paper-dry --no-book  # execute the notebooks only, render no site (the tests' dry run:
#                                    # the smoke build already checks the rendering)
# Executed notebooks and the site land in build/<profile>/ (HTML: build/<profile>/_build/html/index.html).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=default
budget=""
render=1
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=${2:-}; shift 2 || { echo "--budget needs a number of minutes" >&2; exit 2; } ;;
    --budget=*) budget=${1#--budget=}; shift ;;
    --no-book) render=0; shift ;;
    -*) echo "unknown option '$1': use --budget MINUTES|none or --no-book" >&2; exit 2 ;;
    *) profile=$1; shift ;;
  esac
done
case "$profile" in default|full|smoke|paper|paper-dry) ;;
  *) echo "unknown profile '$profile': use default, full, smoke, paper or paper-dry" >&2; exit 2;; esac
[ -n "$budget" ] || [ "$profile" != default ] || budget=80  # the default book: about 90 minutes cold, setup included
[ "$budget" != none ] || budget=""
if [ -n "$budget" ] && ! [[ "$budget" =~ ^[0-9]+$ && "$budget" -gt 0 ]]; then
  echo "--budget $budget: give a whole number of minutes >= 1, or none" >&2; exit 2
fi

bash ci/setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate
# Notebooks run from notebooks/ (papermill --cwd), so a relative data directory must become absolute.
[ -z "${SVD_ICL_DATA:-}" ] || export SVD_ICL_DATA=$(realpath "$SVD_ICL_DATA")
unset SVD_ICL_RESULTS  # the build keeps its results in build/<profile>/results, whatever the caller set
# The dry run substitutes the paper's models through the model map (svd_icl.models.resolve); a caller may give another.
[ "$profile" != paper-dry ] || export SVD_ICL_MODEL_MAP=$(realpath "${SVD_ICL_MODEL_MAP:-ci/paper_dry_models.yaml}")

out=build/$profile
src=$out/src
rm -rf "$src" && mkdir -p "$src/notebooks" "$out/results"
# Notebooks run from $src/notebooks, where their default results_dir "../results" reaches build/<profile>/results
# through this link: no machine path is injected into (and shown on) the pages, and nbval's re-execution of the
# executed notebooks finds the same results.
ln -sfn ../results "$src/results"
cp _config.yml _toc.yml "$src/" && cp -r book "$src/"


# The Evaluation chapter shows each task's exact prompt, rendered by the code from the data.
python -c "from svd_icl.prompts import prompt_examples_markdown as p; print(p())" > "$src/book/prompt_examples.inc"
# The how-to page's cost table of the paper profile on a GPU, computed from its parameter files (main builds only).
case "$profile" in
  default|full)
    { echo '```text'
      python -m svd_icl.plan --profile paper --results build/paper/results --gpu-tflops 312 --workers 8 2>&1 \
        || echo "(the paper profile's plan failed here; run the command above to see why)"
      echo '```'; } > "$src/book/paper_plan.inc" ;;
  *) echo "(The default build computes this table; run the command above.)" > "$src/book/paper_plan.inc" ;;
esac

# Convert the bundled GGUF models to safetensors once (cached in ~/.cache/svd_icl), before any notebook needs them;
# the smoke profile uses the small model only (the 1.5B one takes minutes and 6 GB to convert).
case "$profile" in
  default|full) python -m svd_icl.models prepare ;;
  smoke) python -m svd_icl.models prepare smollm2-135m ;;
  paper-dry) python -m svd_icl.models prepare smollm2-135m gemma3-270m ;;  # the stand-ins' tokenizer; Remark 1's model
esac
echo "== setup and models: $SECONDS s"
setup_seconds=$SECONDS
# A time budget for the chapters: after it, no confirmation starts a further look (each case states where it
# stopped; every stated interval keeps its level, as alpha is spent per look).
unset SVD_ICL_BUDGET_END SVD_ICL_BUDGET_RESERVE
if [ -n "$budget" ]; then
  export SVD_ICL_BUDGET_END=$(( $(date +%s) + budget * 60 ))
  echo "== budget: $budget min for the chapters (until $(date -d @"$SVD_ICL_BUDGET_END" +%H:%M))"
fi

# The plan: every point each chapter needs, how many are stored, the compute left (svd_icl.plan); then one progress
# line a minute while the notebooks run (papermill itself only says "Executing"). The paper profile's models may
# be out of reach here: the plan then says why and the build goes on.
# The first call's per-chapter estimates go beside the measured times in the README's record; the watcher logs every
# minute check that finds another process on the cores (the record says whether the build had them to itself).
rm -f "$out/throughput.json" "$out/plan_estimate.json" "$out/competition.log"  # measured afresh, on the idle machine
python -m svd_icl.plan --profile "$profile" --results "$out/results" --throughput-file "$out/throughput.json" \
  --save "$out/plan_estimate.json" || true
python -m svd_icl.plan --profile "$profile" --results "$out/results" --throughput-file "$out/throughput.json" \
  --watch 60 --current "$out/.chapter" --build-pid $$ --competition-log "$out/competition.log" &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT
echo "{\"chapter\": \"(setup and models)\", \"seconds\": $setup_seconds}" > "$out/timings.jsonl"

# Execute in the order of the table of contents (a later chapter may reuse an earlier one's results).
for name in $(grep -o 'notebooks/[A-Za-z0-9_]*' _toc.yml | cut -d/ -f2); do
  nb=notebooks/$name.ipynb
  # the profile's parameter files for this chapter (svd_icl.profiles: the one table the build plan reads too)
  files=$(python -m svd_icl.profiles "$name" "$profile")
  args=()
  [ -z "$files" ] || mapfile -t args <<< "$files"
  echo "== executing $name ($profile)"
  echo "$name" > "$out/.chapter"
  # The budget keeps the required work of the chapters after this one (the plan's estimate at the start).
  [ -z "$budget" ] || export SVD_ICL_BUDGET_RESERVE=$(python ci/budget_reserve.py "$out/plan_estimate.json" "$name")
  start=$SECONDS
  papermill "$nb" "$src/notebooks/$name.ipynb" --cwd "$src/notebooks" -k python3 --log-level WARNING \
    "${args[@]}"
  echo "== $name: $((SECONDS - start)) s"
  echo "{\"chapter\": \"$name\", \"seconds\": $((SECONDS - start))}" >> "$out/timings.jsonl"
done
kill $watcher 2>/dev/null || true
# The parameters cells open with a formatter directive ("# fmt: off": their aligned comments are documentation);
# the pages a reader sees show the parameters without it.
python - "$src/notebooks" <<'PY'
import sys
from pathlib import Path

import nbformat

for path in Path(sys.argv[1]).glob("*.ipynb"):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("# fmt: off\n"):
            cell.source = cell.source.removeprefix("# fmt: off\n")
    nbformat.write(nb, path)
PY

if [ "$render" = 0 ]; then
  echo "{\"chapter\": \"(whole build)\", \"seconds\": $SECONDS}" >> "$out/timings.jsonl"
  echo "executed notebooks: $src/notebooks ($SECONDS s; --no-book: no site rendered)"
  exit 0
fi
# The first page opens with what the reproduction found, generated from the chapters' verdict files.
python -m svd_icl.findings "$out/results" "$src/book" \
  $(python -c "from svd_icl.profiles import chapter_parameters as p; print(' '.join(p('summary')['chapters']))")

jupyter-book build "$src" --path-output "$out" -W -n --keep-going
echo "{\"chapter\": \"(whole build)\", \"seconds\": $SECONDS}" >> "$out/timings.jsonl"
# The README's reproduction record is written from this build's verdict files and timings (the main book only).
[ "$profile" != default ] || python ci/readme_record.py "$out"
echo "book: $out/_build/html/index.html ($SECONDS s)"
