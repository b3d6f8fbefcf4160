"""Build profiles: which parameter files each profile applies over a notebook's defaults, and the parameters a
chapter runs with. The one table ``ci/build_book.sh`` (``python -m svd_icl.profiles CHAPTER PROFILE``) and the build
plan (:mod:`svd_icl.plan`) both read."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("default", "full", "smoke", "paper", "paper-dry")
# The parameter files of each profile, applied in order over the notebook's defaults.
PROFILE_FILES = {"default": ("default",), "full": ("full",), "smoke": ("smoke",), "paper": ("paper",),
                 "paper-dry": ("paper", "paper-dry")}  # fmt: skip
REQUIRED_FILES = {"smoke", "paper"}  # every chapter has one; default, full and paper-dry files are optional
# The notebooks' own defaults are the complete design (what ``full`` extends); ``default.yaml`` files cut it to the
# book a 2-core machine builds cold in about 90 minutes (the README's cost section says what each cut leaves out).


def toc_chapters(root: Path = ROOT) -> list[str]:
    """Notebook names in the order of ``_toc.yml`` (the order the build executes them)."""
    text = (root / "_toc.yml").read_text()
    return [line.split("notebooks/")[1].split()[0].strip() for line in text.splitlines() if "notebooks/" in line]


def parameter_files(name: str, profile: str = "default", root: Path = ROOT) -> list[Path]:
    """The files ``params/<name>/<part>.yaml`` that ``profile`` applies to notebook ``name``, in order (an optional
    file that is absent is skipped; a required one is an error naming it)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    files = []
    for part in PROFILE_FILES[profile]:
        path = root / "params" / name / f"{part}.yaml"
        if path.exists():
            files.append(path)
        elif part in REQUIRED_FILES:
            raise ValueError(f"profile {profile!r} has no file {path.relative_to(root)}")
    return files


def _parameters_cell(name: str, root: Path = ROOT) -> dict:
    """The values of notebook ``name``'s parameters cell (its defaults), by name."""
    nb = json.loads((root / "notebooks" / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {}
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            values[target.id] = ast.literal_eval(node.value)
    return values


def chapter_parameters(name: str, profile: str = "default", root: Path = ROOT) -> dict:
    """The parameters papermill runs notebook ``name`` with under ``profile``: the parameters cell's values, then
    the profile's files over them (:func:`parameter_files`)."""
    values = _parameters_cell(name, root)
    for path in parameter_files(name, profile, root):
        values.update(yaml.safe_load(path.read_text()) or {})
    return values


def notebook_parameters(name: str, namespace: dict, root: Path = ROOT) -> dict:
    """The parameters a running notebook ``name`` holds in ``namespace`` (its ``globals()``, after papermill's
    injected cell), by the names of its parameters cell: what its chapter module's ``work`` declares the work from,
    so the notebook runs exactly the work the build plan prices."""
    return {key: namespace[key] for key in _parameters_cell(name, root)}


def main(argv: list[str]) -> int:
    """``python -m svd_icl.profiles CHAPTER PROFILE``: print papermill's ``-f FILE`` arguments, one per line."""
    if len(argv) != 2:
        print("usage: python -m svd_icl.profiles CHAPTER PROFILE", file=sys.stderr)
        return 2
    try:
        files = parameter_files(argv[0], argv[1])
    except ValueError as exc:
        print(f"svd_icl.profiles: {exc}", file=sys.stderr)
        return 2
    for path in files:
        print(f"-f\n{path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
