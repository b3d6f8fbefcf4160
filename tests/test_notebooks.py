"""Notebooks are committed as sources: no outputs, a tagged parameters cell, and a file per profile."""

import json
from pathlib import Path

import pytest
import yaml

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
    source = "".join(params[0]["source"])
    names = {line.split("=")[0].strip() for line in source.splitlines() if "=" in line and not line.startswith("#")}
    assert "results_dir" in names
    for profile in ("smoke", "paper"):
        pfile = ROOT / "params" / path.stem / f"{profile}.yaml"
        assert pfile.exists(), f"missing profile {pfile}"
        unknown = set(yaml.safe_load(pfile.read_text()) or {}) - names
        assert not unknown, f"{pfile.name} sets parameters the notebook does not have: {sorted(unknown)}"


def test_every_notebook_is_in_the_book():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is not in _toc.yml"
