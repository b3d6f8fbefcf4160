#!/usr/bin/env bash
# The whole test suite: lint, unit tests, every notebook executed with the smoke profile (papermill),
# nbval over the executed copies, a book build of them and a headless-Chromium check of the pages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh --browser
# shellcheck disable=SC1091
source .venv/bin/activate
# Notebooks run from notebooks/ (papermill --cwd), so a relative data directory must become absolute.
[ -z "${SVD_ICL_DATA:-}" ] || export SVD_ICL_DATA=$(realpath "$SVD_ICL_DATA")

echo "== ruff"
ruff check .
echo "== unit tests"
pytest  # tests marked gpu skip themselves (with the reason) where there is no CUDA device
echo "== notebooks (smoke profile) and book build"
bash ci/build_book.sh smoke
echo "== the build plan agrees with what the notebooks computed"
python -m svd_icl.plan --profile smoke --results build/smoke/results --check
echo "== lm-evaluation-harness against svd_icl on SmolLM2, and the how-to's commands (converted models needed)"
pytest -m slow tests/test_lm_eval.py tests/test_howto.py tests/test_paper_dry.py tests/test_noise.py
echo "== nbval over the executed notebooks"
pytest --nbval-lax --sanitize-with ci/nbval_sanitize.cfg -p no:cacheprovider -m "" build/smoke/src/notebooks
echo "== rendered pages in headless Chromium"
python ci/check_html.py build/smoke
echo "== the paper profile's dry run: its parameter files with 28- and 32-layer random stand-ins, on CPU"
bash ci/build_book.sh paper-dry
python -m svd_icl.plan --profile paper-dry --results build/paper-dry/results --check
