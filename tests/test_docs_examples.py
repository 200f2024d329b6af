"""The code blocks of the README and the tutorials run, so the docs cannot drift from the code.

Every ```bash, ```sh or ```python block of README.md and docs/tutorials/*.md runs, in order,
page by page, in a fresh temporary directory (a later block may use what an earlier one of
the same page made), unless the line before its fence says otherwise:

    <!-- docs-test: skip REASON -->   never run here (a pip install, a GPU, a hub download,
                                      a server, a file to edit by hand); the reason is required
    <!-- docs-test: slow -->          runs on a CPU, but takes long: only with `-m slow`

Shell blocks run under `bash -e`, Python blocks under `python -c`, with the repository on
PYTHONPATH and its root in $SEAL_REPO (for paths into the checkout).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "tutorials").glob("*.md"))]
LANGUAGES = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python", "py": "python"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\n`]*)$")
MARK = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>skip|slow)\b\s*(?P<reason>.*?)\s*-->\s*$")
TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str  # shell or python
    code: str
    mark: str | None  # None, "skip" or "slow"
    reason: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The runnable-language fenced blocks of a Markdown page, with the mark before each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        fence, info = opened["fence"], opened["info"].strip().split()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(fence[0] * len(fence))
                    and not lines[j].strip().strip(fence[0])), len(lines))
        language = LANGUAGES.get(info[0].lower() if info else "")
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(previous)
        if language:
            indent = len(opened["indent"])
            code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
            found.append(Block(page, i + 1, language, code, mark["kind"] if mark else None, mark["reason"] if mark else ""))
        i = end + 1
    return found


def run_block(block: Block, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "SEAL_REPO": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    command = ["bash", "-e", "-c", block.code] if block.language == "shell" else [sys.executable, "-c", block.code]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        pytest.fail(f"{block.where()} exited {done.returncode}\n--- code ---\n{block.code}\n--- output ---\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def run_page(page: Path, tmp_path: Path, with_slow: bool) -> int:
    ran = 0
    for block in blocks_of(page):
        if block.mark == "skip" or (block.mark == "slow" and not with_slow):
            continue
        run_block(block, tmp_path)
        ran += 1
    return ran


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_the_fast_blocks_of_a_page_run(page, tmp_path):
    run_page(page, tmp_path, with_slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_block_of_a_page_runs(page, tmp_path):
    run_page(page, tmp_path, with_slow=True)


def test_every_skipped_block_says_why():
    unexplained = [b.where() for page in PAGES for b in blocks_of(page) if b.mark == "skip" and not b.reason]
    assert not unexplained, f"<!-- docs-test: skip REASON --> needs a reason: {unexplained}"


def test_the_reader_finds_blocks_marks_and_indented_fences(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Intro.\n\n```bash\necho one\n```\n\n<!-- docs-test: skip needs a GPU -->\n```bash\nnvidia-smi\n```\n"
        "<!-- docs-test: slow -->\n\n```python\nprint(2)\n```\n\n```yaml\nnot: code\n```\n"
        "- a list item:\n\n    ```sh\n    echo indented\n    ```\n"
    )
    found = blocks_of(page)
    assert [(b.language, b.mark, b.reason, b.code) for b in found] == [
        ("shell", None, "", "echo one\n"), ("shell", "skip", "needs a GPU", "nvidia-smi\n"),
        ("python", "slow", "", "print(2)\n"), ("shell", None, "", "echo indented\n")]


def test_a_failing_block_fails_with_its_place_and_output(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\necho made > file.txt\n```\n\n```bash\ncat file.txt\necho broken >&2\nexit 3\n```\n")
    with pytest.raises(pytest.fail.Exception) as failure:
        for block in blocks_of(page):  # placed in README.md so that where() can name it
            run_block(Block(ROOT / "README.md", block.line, block.language, block.code, None, ""), tmp_path)
    assert "README.md:5 exited 3" in str(failure.value) and "made" in str(failure.value) and "broken" in str(failure.value)
