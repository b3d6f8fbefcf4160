"""Notebooks are committed as sources: no outputs, a tagged parameters cell, and a file per profile."""

import ast
import json
import logging
from pathlib import Path

import pytest
import yaml
from papermill import inspect_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_and_profiles(path):
    nb = json.loads(path.read_text())
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    names = set(inspect_notebook(str(path)))  # what papermill --help-notebook lists
    assigned = {
        t.id for node in ast.parse("".join(params[0]["source"])).body for t in _targets(node)
    }  # every name the cell assigns, by Python's own parser
    assert names == assigned, f"papermill cannot parse parameters {sorted(assigned - names)} of {path.name}"
    assert "results_dir" in names
    for profile in ("smoke", "paper", "full", "default"):
        pfile = ROOT / "params" / path.stem / f"{profile}.yaml"
        if profile in ("full", "default") and not pfile.exists():
            continue  # the profile runs a chapter without a file at the notebook's defaults
        assert pfile.exists(), f"missing profile {pfile}"
        unknown = set(yaml.safe_load(pfile.read_text()) or {}) - names
        assert not unknown, f"{pfile.name} sets parameters the notebook does not have: {sorted(unknown)}"


def _targets(node: ast.stmt) -> list[ast.Name]:
    if isinstance(node, ast.AnnAssign):
        return [node.target]
    if isinstance(node, ast.Assign):
        return [t for t in node.targets if isinstance(t, ast.Name)]
    return []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_infers_every_parameter_type_without_warning(path, caplog):
    with caplog.at_level(logging.WARNING, logger="papermill"):
        params = inspect_notebook(str(path))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    untyped = [n for n, p in params.items() if p["inferred_type_name"] in ("None", "", None)]
    assert not untyped, f"{path.name}: give these parameters a type annotation: {untyped}"


def test_every_notebook_is_in_the_book():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


HIDDEN = ("remove-cell", "remove-input")
# What a hidden cell may call: it formats what visible cells computed (no decision, no claim assembly there).
FORMATTING = {"Markdown", "HTML", "print", "forest_plot", "models_frame", "prompts_paragraph",
              "outlook", "claims_html", "controls_html", "join", "items", "itertuples", "iterrows", "upper", "loc",
              "set_index", "reset_index", "by_model", "len", "int", "float", "str", "zip", "list", "dict", "bool",
              "concat", "any", "to_dict", "get"}  # fmt: skip


def _hidden_cells():
    for path in NOTEBOOKS:
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code" and set(HIDDEN) & set(cell.get("metadata", {}).get("tags", [])):
                yield path, i, "".join(cell["source"])


def test_hidden_cells_only_format():
    """At most 60 code lines are hidden from the reader in all, and they only format: every call is to a describe_
    function, Markdown, the record, or a formatting helper; a decision a reader cannot see is not allowed."""
    lines, offenders = 0, []
    for path, i, source in _hidden_cells():
        lines += len([line for line in source.splitlines() if line.strip()])
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name not in FORMATTING and not name.startswith("describe_"):
                    offenders.append(f"{path.name} cell {i}: {name}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                offenders.append(f"{path.name} cell {i}: an import (imports belong in the visible import cell)")
    assert lines <= 60, f"{lines} hidden code lines"
    assert not offenders, offenders
