"""The generated configuration reference names every field of both run configs, with its type and default."""

from typing import Literal

from pydantic import BaseModel, Field

from seal_agent.arc.config import RunConfig
from seal_agent.inspect.config_reference import config_reference, model_reference, type_text
from seal_agent.inspect.config_reference import section_of
from seal_agent.knowledge.config import KnowledgeRunConfig


def dotted_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        section = section_of(field.annotation)
        names += dotted_fields(section, f"{prefix}{name}.") if section else [f"{prefix}{name}"]
    return names


def test_every_field_of_both_configs_is_in_the_reference():
    page = config_reference()
    for model in (RunConfig, KnowledgeRunConfig):
        fields = dotted_fields(model)
        assert len(fields) > 50
        missing = [f for f in fields if f"| `{f}` |" not in page]
        assert not missing, f"not in the reference: {missing}"


def test_types_defaults_and_descriptions_are_written_as_a_reader_writes_them():
    class Inner(BaseModel):
        """The inner section."""

        rate: float = Field(0.001, description="How fast | how far.")

    class Outer(BaseModel):
        """The outer config."""

        form: Literal["full", "compact"] = Field("full", description="Which form.")
        names: list[str] = Field(default_factory=list, description="Some names.")
        limit: int | None = Field(None, description="A limit.")
        inner: Inner = Field(default_factory=Inner)
        tuned: Inner = Field(default_factory=lambda: Inner(rate=0.5))

    assert type_text(Literal["a", 1]) == '"a" | 1'
    assert type_text(int | None) == "int | None"
    page = model_reference(Outer, "Outer")
    assert '| `form` | `"full" | "compact"` | `\'full\'` | Which form. |' in page
    assert "| `names` | `list[str]` | `[]` | Some names. |" in page
    assert "| `limit` | `int | None` | `None` | A limit. |" in page
    assert "### `inner`" in page and "The inner section." in page
    assert "| `inner.rate` | `float` | `0.001` | How fast \\| how far. |" in page
    assert "| `tuned.rate` | `float` | `0.5` |" in page  # the default a run gets, not the class's


def test_a_section_built_by_a_factory_shows_the_defaults_a_run_gets():
    page = config_reference()
    assert "| `update.lora.rank` | `int` | `32` |" in page and "| `policy.lora.rank` | `int` | `16` |" in page
