#!/usr/bin/env bash
# The whole test suite: lint and format, unit tests, every notebook executed with the smoke profile (papermill),
# nbval over the executed copies, a book build of them, a headless-Chromium check of the pages and the paper
# profile's dry run. Each stage prints its wall time, and the total comes last.
set -euo pipefail
cd "$(dirname "$0")/.."
times=()
stage_start=$SECONDS
stage_name="setup"
stage() {  # close the running stage (its time) and open the next
  times+=("$(printf '%-46s %5d s' "$stage_name" $((SECONDS - stage_start)))")
  echo "== $1"
  stage_name=$1
  stage_start=$SECONDS
}
bash ci/setup.sh --browser
# shellcheck disable=SC1091
source .venv/bin/activate
# Notebooks run from notebooks/ (papermill --cwd), so a relative data directory must become absolute.
[ -z "${SVD_ICL_DATA:-}" ] || export SVD_ICL_DATA=$(realpath "$SVD_ICL_DATA")

stage "ruff (lint and format)"
ruff check .
ruff format --check .
stage "unit tests"
pytest --durations=15  # tests marked gpu skip themselves (with the reason) where there is no CUDA device
stage "notebooks (smoke profile) and book build"
bash ci/build_book.sh smoke
stage "the build plan agrees with what the notebooks computed"
python -m svd_icl.plan --profile smoke --results build/smoke/results --check
stage "slow tests: lm-eval, how-to commands, paper stand-ins, noise"
pytest --durations=10 -m slow tests/test_lm_eval.py tests/test_howto.py tests/test_paper_dry.py tests/test_noise.py
stage "nbval over the executed notebooks"
pytest --nbval-lax --sanitize-with ci/nbval_sanitize.cfg -p no:cacheprovider -m "" build/smoke/src/notebooks
stage "rendered pages in headless Chromium"
python ci/check_html.py build/smoke
stage "the paper profile's dry run (28- and 32-layer stand-ins, CPU)"
bash ci/build_book.sh paper-dry --no-book  # executed, not rendered: the smoke build checks the rendering
python -m svd_icl.plan --profile paper-dry --results build/paper-dry/results --check
stage "done"
printf '%s\n' "== stage times" "${times[@]}" "$(printf '%-46s %5d s' total $SECONDS)"
