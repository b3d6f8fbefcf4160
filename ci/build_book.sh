#!/usr/bin/env bash
# Execute every notebook with papermill, then render the book with Jupyter Book (warnings are errors).
#   bash ci/build_book.sh          # the book: each notebook at its own defaults (bundled models, real data)
#   bash ci/build_book.sh smoke    # seconds per notebook; what the tests build
#   bash ci/build_book.sh paper    # the paper's setup (GPT-J-6B / LLaMA2-7B, needs a GPU and the Hub)
# Executed notebooks and the site land in build/<profile>/ (HTML: build/<profile>/_build/html/index.html).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-default}
case "$profile" in default|smoke|paper) ;; *) echo "unknown profile '$profile': use default, smoke or paper" >&2; exit 2;; esac

bash ci/setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate
# Notebooks run from notebooks/ (papermill --cwd), so a relative data directory must become absolute.
[ -z "${SVD_ICL_DATA:-}" ] || export SVD_ICL_DATA=$(realpath "$SVD_ICL_DATA")

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

# Convert the bundled GGUF models to safetensors once (cached in ~/.cache/svd_icl), before any notebook needs them;
# the smoke profile uses the small model only (the 1.5B one takes minutes and 6 GB to convert).
case "$profile" in
  default) python -m svd_icl.models prepare ;;
  smoke) python -m svd_icl.models prepare smollm2-135m ;;
esac

# Execute in the order of the table of contents (a later chapter may reuse an earlier one's results).
for name in $(grep -o 'notebooks/[A-Za-z0-9_]*' _toc.yml | cut -d/ -f2); do
  nb=notebooks/$name.ipynb
  args=()
  [ "$profile" = default ] || args=(-f "params/$name/$profile.yaml")
  echo "== executing $name ($profile)"
  start=$SECONDS
  papermill "$nb" "$src/notebooks/$name.ipynb" --cwd "$src/notebooks" -k python3 --log-level WARNING \
    "${args[@]}"
  echo "== $name: $((SECONDS - start)) s"
done

jupyter-book build "$src" --path-output "$out" -W -n --keep-going
echo "book: $out/_build/html/index.html"
