"""MkDocs hooks: pages and files the site takes from the code and the benchmarks at build time.

- `reference/configuration.md` is generated from the pydantic config classes
  (`seal_agent.inspect.config_reference`), so it always lists what the code accepts;
- in `reference/cli.md`, each `<!-- options: seal run arc -->` marker becomes that
  command's options, read from the `seal` command (`seal_agent.cli.reference`);
- every figure the benchmarks drew (`benchmarks/*.svg`) is served as `figures/<name>.svg`,
  so the results pages show the committed figures, not copies of them.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

from seal_agent.cli.reference import options_table
from seal_agent.inspect.config_reference import config_reference

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = re.compile(r"<!-- options: (seal(?: [a-z][a-z0-9-]*)+) -->")


def on_files(files, config):
    files.append(File.generated(config, "reference/configuration.md", content=config_reference()))
    for svg in sorted((ROOT / "benchmarks").glob("*.svg")):
        files.append(File.generated(config, f"figures/{svg.name}", abs_src_path=str(svg)))
    return files


def on_page_markdown(markdown, page, config, files):
    # An unknown command raises KeyError: the build fails instead of showing a stale table.
    return OPTIONS.sub(lambda m: options_table(m.group(1).split()), markdown)
