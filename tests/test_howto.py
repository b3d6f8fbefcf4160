"""The how-to page's "Use it on your model" commands run as written (slow: they load SmolLM2 and run lm-eval)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def howto_commands(section: str = "## Use it on your model") -> str:
    """The first bash block of ``section`` in book/howto.md."""
    text = (ROOT / "book" / "howto.md").read_text()
    part = text[text.index(section) :]
    return re.search(r"```bash\n(.*?)```", part, re.S).group(1)


def test_the_section_has_commands_for_every_step():
    block = howto_commands()
    for command in ("svd-icl algorithm1", "svd-icl export", "--factorized", "svd-icl lm-eval-tasks", "lm_eval "):
        assert command in block


@pytest.mark.slow
def test_the_use_it_on_your_model_commands_run_as_written(data_root, tmp_path):
    # the block activates the project's environment from the repository root; here it runs in an empty directory
    block = howto_commands().replace("source .venv/bin/activate", f"source {ROOT / '.venv/bin/activate'}")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "SVD_ICL_DATA": str(Path(data_root).resolve())})  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "exported/smollm2-l29-mlp/model.safetensors").exists()
    assert (tmp_path / "exported/low-rank/README.md").exists()
    results = list((tmp_path / "lm-results").rglob("results_*.json"))
    assert results, "lm_eval wrote no results file"
    scores = json.loads(results[0].read_text())["results"]["svd_icl_sst2_10shot_seed0_test100"]
    assert 0.0 <= scores["acc,none"] <= 1.0
