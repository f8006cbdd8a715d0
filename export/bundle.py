"""Step 5: the device bundle. Written to a temporary sibling folder and renamed at the end, so an interrupted
or refused export never leaves a half bundle behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from albert_edge_runtime.bundle import FORMAT_VERSION, sha256_hex

from .contract import INPUT_NAMES, OPSET, OUTPUT_NAME


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("albert-edge", "torch", "onnx", "onnxruntime", "tokenizers", "transformers"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def check_out_dir(out: Path) -> None:
    """Fail before any work if the bundle could not be written: exists non-empty, or no writable parent."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder or remove it")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot create {out}: {ancestor} is not a writable folder; choose another --out")


def write_bundle(out_dir: Path, model_path: Path, tokenizer_json: str, labels: list[str], max_length: int,
                 truncation: str, pad_token_id: int, details: dict[str, Any]) -> Path:
    """Atomically create `out_dir` (must not exist, or be an empty folder) with model, tokenizer and manifest."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=parent))
    try:
        shutil.copyfile(model_path, staging / "model.onnx")
        (staging / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        files = {name: {"sha256": sha256_hex((staging / name).read_bytes()), "bytes": (staging / name).stat().st_size}
                 for name in ("model.onnx", "tokenizer.json")}
        manifest = {
            "format_version": FORMAT_VERSION,
            "labels": labels,
            "max_length": max_length,
            "truncation": truncation,
            "pad_token_id": pad_token_id,
            "model": "model.onnx",
            "tokenizer": "tokenizer.json",
            "onnx": {"inputs": list(INPUT_NAMES), "output": OUTPUT_NAME, "opset": OPSET},
            "files": files,
            **details,
            "tool_versions": tool_versions(),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be shared and served
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
