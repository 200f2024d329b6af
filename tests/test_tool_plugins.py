"""Adding a tool without touching the project: a module loaded by path, and bad tool output."""

import json
import textwrap

import pytest
from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from seal_agent.cli import app
from seal_agent.policy.self_edit import Rejection, SelfEdit, validate_self_edit
from seal_agent.jobs.arc import prepare_run, run_arc
from tests.conftest import fast_config
from seal_agent.tools import ToolLoadError, TrainingSettings, arc_tools

DEFAULTS = TrainingSettings(learning_rate=1e-3, num_train_epochs=1, strategy="all_tokens")

NEW_TOOL = textwrap.dedent('''
    """A tool that lives outside the project."""
    import numpy as np
    from pydantic import BaseModel, Field

    from seal_agent.tools import GridTransform, arc_tool


    class ShiftArgs(BaseModel):
        amount: int = Field(ge=1, le=3, description="Columns to roll right.")


    @arc_tool(args_schema=ShiftArgs, required=True)
    def roll_columns(amount: int):
        """Add a copy of the task with every grid's columns rolled right, wrapping around."""
        return [GridTransform(f"roll_{amount}", lambda g: np.roll(g, amount, axis=1),
                              inverse=lambda g: np.roll(g, -amount, axis=1))]
''')

BAD_TOOLS = textwrap.dedent('''
    from pydantic import BaseModel

    from seal_agent.tools import GridTransform, arc_tool


    class NoArgs(BaseModel):
        pass


    @arc_tool(args_schema=NoArgs)
    def explodes():
        """Raises."""
        raise RuntimeError("boom")


    @arc_tool(args_schema=NoArgs)
    def says_nothing():
        """Returns nothing."""
        return None


    @arc_tool(args_schema=NoArgs)
    def paints_twelve():
        """Returns colour 12."""
        return [GridTransform("twelve", lambda g: g * 0 + 12)]


    @arc_tool(args_schema=NoArgs)
    def goes_ragged():
        """Returns a ragged grid."""
        return [GridTransform("ragged", lambda g: [[1, 2], [3]])]
''')


@pytest.fixture()
def new_tool_module(tmp_path):
    path = tmp_path / "my_tools.py"
    path.write_text(NEW_TOOL)
    return path


def test_a_tool_module_loaded_by_path_is_listed(new_tool_module):
    names = [t.name for t in arc_tools("open", [str(new_tool_module)])]
    assert "roll_columns" in names and names[-2:] == ["roll_columns", "train"]  # required tools last
    listed = json.loads(CliRunner().invoke(app, ["tools", "list", "--json", "--tools-module", str(new_tool_module)]).output)
    mine = next(t for t in listed if t["name"] == "roll_columns")
    assert mine["description"].startswith("Add a copy of the task with every grid's columns rolled")
    assert mine["schema"]["properties"]["amount"]["maximum"] == 3


def test_broken_tool_module_is_a_clear_error(tmp_path):
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(ToolLoadError, match="broken.py: importing the tool module failed"):
        arc_tools("open", [str(tmp_path / "broken.py")])
    result = CliRunner().invoke(app, ["run", "arc", "--tools-module", str(tmp_path / "broken.py"), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and not (tmp_path / "r").exists()


def test_a_smoke_round_in_which_the_policy_calls_the_new_tool(tmp_path, new_tool_module):
    from seal_agent.run.traces import TraceStore

    config = fast_config(rounds=1, tools={"vocabulary": "open", "modules": [str(new_tool_module)]},
                         policy={"max_optional_calls": 2, "max_new_tokens": 900})
    prepared = prepare_run(config, tmp_path / "run", resume=False)
    summary = run_arc(prepared)
    rows = TraceStore(prepared.run_dir / "run.sqlite").candidates()
    assert summary["stop_reason"] == "done" and len(rows) == 6
    assert all("roll_columns" in r["tool_names"] for r in rows if r["status"] != "rejected")
    assert any(r["status"] == "ok" for r in rows)
    for row in rows:
        if row["status"] == "ok":  # the augmented data is counted per candidate
            assert row["data_counts"]["augmented_tasks"] >= 2 and row["data_counts"]["examples"] > 0


@pytest.mark.parametrize("tool_name, reason", [
    ("explodes", "explodes failed: RuntimeError: "), ("says_nothing", "says_nothing returned nothing"),
])
def test_a_tool_that_fails_rejects_the_candidate(tmp_path, tool_name, reason):
    (tmp_path / "bad.py").write_text(BAD_TOOLS)
    tools = arc_tools("open", [str(tmp_path / "bad.py")])
    message = AIMessage(content="", tool_calls=[{"name": tool_name, "args": {}, "id": "c0"}])
    result = validate_self_edit(message, tools, DEFAULTS)
    assert isinstance(result, Rejection) and result.reason.startswith(reason)


@pytest.mark.parametrize("tool_name, reason", [("paints_twelve", "colour 12"), ("goes_ragged", "ragged")])
def test_a_tool_with_bad_grids_rejects_the_candidate_and_the_run_goes_on(tmp_path, tool_name, reason):
    from seal_agent.arc.scoring import prepare_job
    from seal_agent.jobs.arc import build_context

    (tmp_path / "bad.py").write_text(BAD_TOOLS)
    config = fast_config(rounds=1, tools={"vocabulary": "open", "modules": [str(tmp_path / "bad.py")]})
    ctx = build_context(prepare_run(config, tmp_path / "run", resume=False))
    message = AIMessage(content="", tool_calls=[{"name": tool_name, "args": {}, "id": "c0"}])
    self_edit = validate_self_edit(message, ctx.tools, DEFAULTS)
    assert isinstance(self_edit, SelfEdit)  # the call itself is fine; its output is not
    row = {"timings": {}, "status": "ok", "reason": None, "reward": 0.0}
    assert prepare_job(ctx.config, ctx.engine.tokenizer, ctx.tasks["6e02f1e3"], self_edit, seed=0, row=row) is None
    assert row["status"] == "rejected" and "bad tool output" in row["reason"] and reason in row["reason"]


@pytest.mark.parametrize("shape", ["module", "tool", "list"])
def test_tools_registered_under_the_entry_point_group_are_found(monkeypatch, new_tool_module, shape):
    import seal_agent.tools as tools_package
    from seal_agent.tools import import_tool_module

    module = import_tool_module(str(new_tool_module))
    target = {"module": module, "tool": module.roll_columns, "list": [module.roll_columns]}[shape]

    class FakeEntryPoint:
        name, value = "third_party", "third_party.arc_tools"

        def load(self):
            return target

    monkeypatch.setattr(tools_package, "entry_points", lambda group: [FakeEntryPoint()] if group == "seal_agent.tools" else [])
    assert "roll_columns" in [t.name for t in arc_tools("open")]


def test_a_dotted_module_name_is_not_mistaken_for_a_path(tmp_path, monkeypatch):
    package = tmp_path / "my_dotted_tools"
    package.mkdir()
    (package / "__init__.py").write_text(NEW_TOOL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "roll_columns" in [t.name for t in arc_tools("open", ["my_dotted_tools"])]


@pytest.mark.parametrize("name, message", [
    ("notes.txt", "notes.txt: not a Python file; a tool module path names a .py file"),
    ("plugins", "plugins: is a directory; a tool module path names a .py file"),
    ("odd.py", "odd.py: is a directory; a tool module path names a .py file"),
])
def test_a_tool_module_path_that_is_not_a_python_file_is_a_clear_error(tmp_path, name, message):
    path = tmp_path / name
    if path.suffix == ".txt":
        path.write_text("not python\n")
    else:
        path.mkdir()
    with pytest.raises(ToolLoadError, match=message):
        arc_tools("open", [str(path)])
    result = CliRunner().invoke(app, ["tools", "list", "--tools-module", str(path)])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output


def test_a_directory_named_as_a_dotted_module_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "not_a_package").mkdir()  # no __init__.py: Python imports it as an empty namespace
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ToolLoadError, match="not_a_package: is a directory, not a module"):
        arc_tools("open", ["not_a_package"])


@pytest.mark.parametrize("code", ["0", "3", "'bye'"])
def test_a_tool_module_that_exits_on_import_is_a_clear_error_not_a_silent_exit(tmp_path, code):
    path = tmp_path / "exits.py"
    path.write_text(f"import sys\nsys.exit({code})\n")
    with pytest.raises(ToolLoadError, match=r"exits.py: importing the tool module failed: it called exit\("):
        arc_tools("open", [str(path)])
    for command in (["tools", "list"], ["run", "arc", "--run-dir", str(tmp_path / "r")]):
        result = CliRunner().invoke(app, command + ["--tools-module", str(path)])
        assert result.exit_code == 2 and "it called exit" in " ".join(result.output.split())
    assert not (tmp_path / "r").exists()
