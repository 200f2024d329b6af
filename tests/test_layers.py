"""The packages import each other one way only: the layering docs/concepts/layout.md draws.

Every import in the project (module level or inside a function) is read from the source
and mapped to its unit: a subpackage of `seal_agent` (the folders `tools/` and `graphs/` are
installed as `seal_agent.tools` and `seal_agent.graphs`) or a top-level module of it. Each unit has a layer; an import may only point to a lower layer. So no
package-level cycle can come back, and, e.g., a domain that starts importing `graphs`
fails here with the file that does it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS = [
    ("seal_agent.untrusted",),  # reading user files: imports nothing of the project
    ("seal_agent.config", "seal_agent.grids", "seal_agent.state", "seal_agent.stats"),
    ("seal_agent.run",),
    ("seal_agent.tools",),
    ("seal_agent.model",),
    ("seal_agent.engine",),
    ("seal_agent.policy",),
    ("seal_agent.rl",),
    ("seal_agent.arc", "seal_agent.knowledge"),
    ("seal_agent.graphs",),
    ("seal_agent.jobs", "seal_agent.inspect"),
    ("seal_agent.cli",),
]
LAYER = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


# Folders at the repository's root that install under the seal_agent namespace (pyproject's package-dir).
INSTALLED_AS = {"tools": "seal_agent.tools", "graphs": "seal_agent.graphs"}


def unit_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "seal_agent" and len(parts) > 1:
        return f"seal_agent.{parts[1]}"
    return None


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    parts[:1] = INSTALLED_AS.get(parts[0], parts[0]).split(".")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Every module `path` imports, anywhere in it, relative imports resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def source_files(root: Path) -> list[Path]:
    return sorted(p for folder in ("seal_agent", "tools", "graphs") for p in (root / folder).rglob("*.py"))


def upward_imports(root: Path) -> list[str]:
    """'file: unit imports unit' for every import that does not point to a lower layer."""
    upward = []
    for path in source_files(root):
        source = unit_of(module_name(path, root))
        if source not in LAYER:
            continue
        for target in {unit_of(m) for m in imports_of(path, root)} - {None, source}:
            if target in LAYER and LAYER[target] >= LAYER[source]:
                upward.append(f"{path.relative_to(root)}: {source} imports {target}")
    return sorted(upward)


def test_every_unit_has_a_layer():
    units = {unit_of(module_name(p, ROOT)) for p in source_files(ROOT)} - {None, "seal_agent.presets"}
    assert units <= set(LAYER), f"give these a layer in LAYERS (and docs/concepts/layout.md): {sorted(units - set(LAYER))}"


def test_imports_point_down_only():
    upward = upward_imports(ROOT)
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_the_check_finds_an_upward_import_inside_a_function(tmp_path):
    (tmp_path / "seal_agent" / "arc").mkdir(parents=True)
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "__init__.py").write_text("from seal_agent.arc import data\n")
    (tmp_path / "seal_agent" / "arc" / "grids.py").write_text("from ..engine import sequential\n")
    assert upward_imports(tmp_path) == []  # graphs -> arc -> engine: all downward
    (tmp_path / "seal_agent" / "arc" / "data.py").write_text("def f():\n    from seal_agent.graphs.arc import build_arc_graph\n")
    (tmp_path / "seal_agent" / "arc" / "scoring.py").write_text("from ..jobs.arc import run_arc\n")
    assert upward_imports(tmp_path) == [
        "seal_agent/arc/data.py: seal_agent.arc imports seal_agent.graphs",
        "seal_agent/arc/scoring.py: seal_agent.arc imports seal_agent.jobs",
    ]
