"""The configuration reference, generated from the pydantic config classes.

Every field of `seal run arc`'s and `seal run knowledge`'s configs, section by section:
its dotted name (what a YAML file or `--set` writes), its type, its default and its
description. The documentation site builds its reference page from `config_reference()`
at build time (`docs/hooks.py`), so the page always says what the code accepts.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def type_text(annotation: Any) -> str:
    """A field's type as a reader writes it: `int`, `float | None`, `"full" | "compact"`, `list[str]`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_text(a) for a in args)}]" if args else name
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def field_default(field) -> Any:
    """A field's default value (what its factory builds, if it has one), or PydanticUndefined."""
    if field.default is not PydanticUndefined:
        return field.default
    return field.default_factory() if field.default_factory is not None else PydanticUndefined


def default_text(value: Any) -> str:
    return "required" if value is PydanticUndefined else f"`{value!r}`"


def section_of(annotation: Any) -> type[BaseModel] | None:
    """The config section class a field holds, if it holds one (`X` or `X | None`)."""
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def section_rows(model: type[BaseModel], prefix: str = "", instance: BaseModel | None = None):
    """Table rows of a section's own fields, and the sections nested in it (name, class,
    default instance). `instance`: the section's default as its parent builds it (a section
    built by a factory may differ from its class's defaults)."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        value = getattr(instance, name) if instance is not None else field_default(field)
        section = section_of(field.annotation)
        if section is not None:
            nested.append((f"{prefix}{name}", section, value if isinstance(value, BaseModel) else None))
            continue
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | `{type_text(field.annotation)}` | {default_text(value)} | {description} |")
    return rows, nested


def model_reference(model: type[BaseModel], title: str) -> str:
    """One config class as Markdown: its top-level fields, then each section (depth first),
    with the defaults a run gets when it sets nothing."""
    out = [f"## {title}", "", (model.__doc__ or "").strip(), ""]
    todo: list[tuple[str, type[BaseModel], BaseModel | None]] = [("", model, None)]
    while todo:
        prefix, section, instance = todo.pop(0)
        rows, nested = section_rows(section, f"{prefix}." if prefix else "", instance)
        if prefix:
            doc = " ".join((section.__doc__ or "").split())
            out += [f"### `{prefix}`", ""] + ([doc, ""] if doc and not doc.startswith(section.__name__ + "(") else [])
        if rows:
            out += ["| field | type | default | description |", "|---|---|---|---|", *rows, ""]
        todo = nested + todo
    return "\n".join(out)


def config_reference() -> str:
    """The whole reference page: the ARC run config and the knowledge run config."""
    from seal_agent.arc.config import RunConfig
    from seal_agent.knowledge.config import KnowledgeRunConfig

    header = (
        "# Configuration reference\n\n"
        "Every setting of a run, generated from the config classes when the documentation is built. "
        "A YAML file (`--config FILE`) sets a field by its dotted name, one mapping per section "
        "(`ttt: {learning_rate: 0.003}` sets `ttt.learning_rate`); a preset (`--preset`) is such a "
        "file shipped with the package, and the command line's options override both. "
        "Unknown fields are refused, with the field named.\n"
    )
    return "\n".join([header, model_reference(RunConfig, "`seal run arc`: RunConfig"),
                      model_reference(KnowledgeRunConfig, "`seal run knowledge`: KnowledgeRunConfig")]) + "\n"
