"""Config sections that share a base keep their own names in errors."""

import pytest


@pytest.mark.parametrize("section", ["ttt", "update"])
def test_the_batched_engine_refuses_lora_dropout_naming_the_section(section):
    from pydantic import ValidationError

    from seal_agent.arc.config import TTTConfig
    from seal_agent.knowledge.config import UpdateConfig

    schema = {"ttt": TTTConfig, "update": UpdateConfig}[section]
    with pytest.raises(ValidationError, match=f"needs {section}.lora.dropout 0"):
        schema(lora={"dropout": 0.1})
    assert schema(lora={"dropout": 0.1}, engine="sequential").engine == "sequential"
