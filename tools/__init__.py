"""Self-edit tools: what a policy may call in a self-edit.

A tool is a function decorated with `@arc_tool` (see `tools/base.py`) in any module of
this package: it is found by `arc_tools()`, with no list to edit. Tools also come from
modules named in the run's config (`tools.modules`) or on the command line
(`--tools-module`, a dotted module name or a path to a .py file), and from installed
packages that register a module under the `seal_agent.tools` entry-point group:

    [project.entry-points."seal_agent.tools"]
    my_tools = "my_package.arc_tools"

Two vocabularies:
    seal - the paper's self-edit: data_generation(four booleans), then train(...)
    open - individual augmentation tools with arguments (rotate, upscale, chain, ...),
           each callable several times, then train(...)
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from langchain_core.tools import BaseTool

from seal_agent.tools.base import (
    VOCABULARIES, Augmentation, GridTransform, TaskTransform, ToolOutputError, arc_tool, as_grid, is_arc_tool, is_knowledge_tool,
    knowledge_tool,
)
from seal_agent.tools.training import TrainingSettings, train

ENTRY_POINT_GROUP = "seal_agent.tools"


class ToolLoadError(Exception):
    """A tool module that cannot be imported, or a clash of tool names."""


# What importing someone's module may raise that must become a ToolLoadError. SystemExit too:
# a module that calls sys.exit() on import (a script's `main()` run at the top level) would
# otherwise end the command silently with its exit code. KeyboardInterrupt still stops.
IMPORT_FAILURES = (Exception, SystemExit)


def import_tool_module(spec: str) -> ModuleType:
    """Import a module by dotted name or by the path of a .py file."""
    path = Path(spec)
    # A path only when it looks like one: a dotted name such as `mytools` stays a module name
    # even when a directory of that name sits in the working directory.
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        if path.is_dir():
            raise ToolLoadError(f"{spec}: is a directory; a tool module path names a .py file")
        if not path.is_file():
            raise ToolLoadError(f"{spec}: no such tool module file")
        if path.suffix != ".py":
            raise ToolLoadError(f"{spec}: not a Python file; a tool module path names a .py file")
        name = f"seal_agent_extra_tools.{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except IMPORT_FAILURES as err:
            sys.modules.pop(name, None)  # not left half-imported for the next caller
            raise ToolLoadError(f"{spec}: importing the tool module failed: {_import_failure(err)}") from err
        return module
    try:
        module = importlib.import_module(spec)
    except IMPORT_FAILURES as err:
        raise ToolLoadError(f"{spec}: importing the tool module failed: {_import_failure(err)}") from err
    module_spec = module.__spec__
    if module_spec is not None and module_spec.origin in (None, "namespace") and module_spec.submodule_search_locations:
        # a directory without __init__.py imports as an empty namespace package: no tools, no error
        raise ToolLoadError(f"{spec}: is a directory, not a module (no __init__.py); name a module or a .py file")
    return module


def _import_failure(err: BaseException) -> str:
    if isinstance(err, SystemExit):
        return f"it called exit({err.code!r}) on import"
    return f"{type(err).__name__}: {err}"


def _module_tools(module: ModuleType) -> list:
    return list(vars(module).values())


def _package_tools() -> list:
    package_dir = Path(__file__).parent
    found = []
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda i: i.name):
        found += _module_tools(importlib.import_module(f"{__name__}.{info.name}"))
    return found


def _entry_point_tools() -> list:
    """Tools registered by installed packages: an entry point names a module, a tool, or a list."""
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except IMPORT_FAILURES as err:
            raise ToolLoadError(f"entry point {entry.name} ({entry.value}): {_import_failure(err)}") from err
        if isinstance(loaded, ModuleType):
            found += _module_tools(loaded)
        elif isinstance(loaded, (list, tuple)):
            found += list(loaded)
        else:
            found.append(loaded)
    return found


def _discover(keep, modules: Iterable[str]) -> list[BaseTool]:
    """Every tool for which `keep(tool)` holds, from this package, entry points and `modules`."""
    candidates = _package_tools() + _entry_point_tools()
    for spec in modules:
        candidates += _module_tools(import_tool_module(spec))
    found: dict[str, BaseTool] = {}
    for value in candidates:
        if not keep(value):
            continue
        if value.name in found and found[value.name] is not value:
            raise ToolLoadError(f"two different tools are named {value.name!r}")
        found[value.name] = value
    return list(found.values())


def arc_tools(vocabulary: str = "seal", modules: Iterable[str] = ()) -> list[BaseTool]:
    """The ARC tools of a vocabulary: optional tools by name, then required ones by name.

    This order is what the policy is shown and what its grammar follows (required tools,
    `train` among them, come last).
    """
    if vocabulary not in VOCABULARIES:
        raise ToolLoadError(f"unknown vocabulary {vocabulary!r}; choose one of {', '.join(VOCABULARIES)}")
    tools = _discover(lambda t: is_arc_tool(t) and t.metadata["vocabulary"] in (vocabulary, "both"), modules)
    return sorted(tools, key=lambda t: (t.metadata["self_edit"] == "required", t.name))


def knowledge_tools(modules: Iterable[str] = ()) -> list[BaseTool]:
    """The knowledge-incorporation tools, by name."""
    return sorted(_discover(is_knowledge_tool, modules), key=lambda t: t.name)


def tool_summaries(tools: Iterable[BaseTool]) -> list[dict]:
    """`{name, description, schema}` for each tool, as `seal tools list --json` prints them."""
    return [
        {"name": t.name, "description": t.description, "schema": t.args_schema.model_json_schema(),
         "vocabulary": t.metadata.get("vocabulary", t.metadata["domain"]), "required": t.metadata["self_edit"] == "required"}
        for t in tools
    ]


__all__ = [
    "Augmentation", "GridTransform", "TaskTransform", "ToolOutputError", "ToolLoadError", "as_grid", "TrainingSettings",
    "arc_tool", "arc_tools", "knowledge_tool", "knowledge_tools", "tool_summaries", "train",
]
