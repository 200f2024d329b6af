"""MkDocs hooks: pages and files the site takes from the code and the benchmarks at build time.

- `reference/configuration.md` is generated from the pydantic config classes
  (`seal_agent.inspect.config_reference`), so it always lists what the code accepts;
- every figure the benchmarks drew (`benchmarks/*.svg`) is served as `figures/<name>.svg`,
  so the results pages show the committed figures, not copies of them.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

from seal_agent.inspect.config_reference import config_reference

ROOT = Path(__file__).resolve().parent.parent


def on_files(files, config):
    files.append(File.generated(config, "reference/configuration.md", content=config_reference()))
    for svg in sorted((ROOT / "benchmarks").glob("*.svg")):
        files.append(File.generated(config, f"figures/{svg.name}", abs_src_path=str(svg)))
    return files
