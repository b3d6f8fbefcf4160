"""The package's layering: the claims sit on top of what they judge, and no two modules import each other."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "svd_icl"
# modules that read verdicts or run chapters import the claims
ABOVE_CLAIMS = {"summary", "findings", "plan", "cli", "chapters"}


def _imports(path: Path) -> set[str]:
    """Every svd_icl module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("svd_icl"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("svd_icl")}
    return found


def _modules() -> dict[str, set[str]]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_nothing_below_the_claims_imports_them():
    offenders = {
        name: sorted(i for i in imports if i.startswith("svd_icl.claims"))
        for name, imports in _modules().items()
        if not name.startswith("svd_icl.claims") and name.split(".")[1] not in ABOVE_CLAIMS
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_two_modules_import_each_other():
    modules = _modules()
    pairs = {tuple(sorted((a, b))) for a, imports in modules.items() for b in imports
             if b != a and a in modules.get(b, set())}  # fmt: skip
    assert not pairs, f"import cycles: {sorted(pairs)}"


def test_long_modules_say_why():
    """A module over 400 lines is one that its docstring says must stay whole ("Why one long module")."""
    long = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if len(p.read_text().splitlines()) > 400
        and "Why one long module" not in (ast.get_docstring(ast.parse(p.read_text())) or "")
    ]
    assert not long, f"over 400 lines without saying why: {long}"


def test_no_private_name_is_imported_across_modules():
    """A leading underscore means "this module's own": no other module of the package imports it."""
    crossing = [
        f"{name} imports {imp.module}.{alias.name}"
        for name, path in (
            (".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts), p) for p in PACKAGE.rglob("*.py")
        )
        for imp in ast.walk(ast.parse(path.read_text()))
        if isinstance(imp, ast.ImportFrom) and imp.module and imp.module.startswith("svd_icl")
        for alias in imp.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not crossing, crossing
