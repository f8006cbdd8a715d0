"""Step 5: the device bundle. Written to a temporary sibling folder and renamed at the end, so an interrupted
or refused export never leaves a half bundle behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from albert_edge_runtime.bundle import file_sha256
from albert_edge_runtime.manifest import Manifest

MODEL_FILE, MODEL_DATA_FILE, EXACT_INT8_FILE = "model.onnx", "model.onnx.data", "model.exact-int8.onnx"


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


def stage_bundle(
    out_dir: Path,
    model_files: dict[str, Path],
    tokenizer_json: str,
    interop: dict[str, str],
    manifest_fields: dict[str, Any],
) -> Path:
    """A complete bundle in a hidden sibling of `out_dir` (checked to be creatable), for the end-to-end guard to
    load before anything is published. `model_files`: name in the bundle -> file, the graph (MODEL_FILE) first,
    then its external weights, and the exact-INT8 graph (EXACT_INT8_FILE) where there is one. `interop`: extra
    text files (config.json, tokenizer_config.json) that let transformers and optimum open the bundle; the runtime
    does not read them."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        for name, path in model_files.items():
            shutil.copyfile(path, staging / name)
        (staging / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        for name, text in interop.items():
            (staging / name).write_text(text, encoding="utf-8")
        names = [*model_files, "tokenizer.json", *interop]
        files = {
            name: {"sha256": file_sha256(staging / name), "bytes": (staging / name).stat().st_size} for name in names
        }
        manifest = Manifest(
            **manifest_fields,
            files=files,
            model=MODEL_FILE,
            model_data=[name for name in model_files if name not in (MODEL_FILE, EXACT_INT8_FILE)],
            exact_int8_model=EXACT_INT8_FILE if EXACT_INT8_FILE in model_files else "",
            tokenizer="tokenizer.json",
            load_optimization="disable",
            tool_versions=tool_versions(),
        )
        manifest.write(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be shared and served
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def publish(staging: Path, out_dir: Path) -> Path:
    """Rename the checked staging folder to `out_dir` (which must not exist, or be empty)."""
    check_out_dir(out_dir)
    if out_dir.exists():
        out_dir.rmdir()  # empty, checked above
    staging.rename(out_dir)
    return out_dir
