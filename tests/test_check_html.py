"""The rendered-page check fails on a table shown as raw Markdown (the summary page's old rendering)."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_html", ROOT / "ci" / "check_html.py")
check_html = importlib.util.module_from_spec(spec)
sys.modules["check_html"] = check_html  # dataclasses look their module up there
spec.loader.exec_module(check_html)

PIPE_TABLE = "| Claim | Status | Chapter |\n|---|---|---|\n| Theorem 1 | reproduced | [theorem1](theorem1.html) |"


def executed_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("Markdown(table)")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/markdown": PIPE_TABLE}, execution_count=1)]
    nb.cells = [nbformat.v4.new_markdown_cell("# Summary"), cell]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_expected_counts_tables_and_links(tmp_path):
    executed_notebook(tmp_path / "summary.ipynb")
    need = check_html.expected(tmp_path / "summary.ipynb")
    assert need.tables == 1 and need.links == {"theorem1.html"}


def test_raw_pipe_text_and_missing_tables_are_problems():
    need = check_html.Need(tables=1, links={"theorem1.html"})
    old_rendering = {"math": 0, "images": [], "mathjax_errors": 0, "tables": 0, "pipe_rows": 1, "links": []}
    found = check_html.problems(old_rendering, need)
    assert any("0 of 1 tables" in p for p in found) and any("pipe-table" in p for p in found)
    assert any("theorem1.html" in p for p in found)
    fixed = {**old_rendering, "tables": 1, "pipe_rows": 0, "links": ["theorem1.html#x"]}
    assert check_html.problems(fixed, need) == []
    shown_directive = check_html.problems({**fixed, "directives": 1}, need)
    assert shown_directive == ["1 formatter directive lines (# fmt: ...) shown in code"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (bash ci/setup.sh --browser)")
def test_chromium_check_fails_on_the_old_summary_rendering(tmp_path):
    executed_notebook(tmp_path / "src" / "notebooks" / "summary.ipynb")
    html = tmp_path / "_build" / "html" / "notebooks" / "summary.html"
    html.parent.mkdir(parents=True)
    raw = PIPE_TABLE.replace("\n", " ").replace("---", "\u2014")  # what the page showed: one paragraph, em dashes
    html.write_text(f"<html><body><main><h1>Summary</h1><p>{raw}</p></main></body></html>")
    run = subprocess.run(
        [sys.executable, str(ROOT / "ci" / "check_html.py"), str(tmp_path), "--port", "9377"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout
    assert "FAIL summary.html" in run.stdout and "0 of 1 tables" in run.stdout
