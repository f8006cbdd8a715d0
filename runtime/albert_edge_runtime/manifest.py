"""The bundle's `manifest.json`, defined once: the export builds a `Manifest`, the runtime reads one."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .encoding import TRUNCATIONS

# 2: the manifest names the head (`problem_type`) and the tokenizer has no padding state. A runtime that knows only
# 1 would answer a multi-label or regression bundle with softmax, so it must refuse version 2.
# 3: the graph is optimised at export (`load_optimization`: "disable") and its weights live in `model_data` files.
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")
REQUIRED_KEYS = ("format_version", "labels", "max_length", "truncation", "model", "tokenizer", "pad_token_id", "files")


class BundleError(ValueError):
    """A bundle that cannot be trusted or used; the message says what is wrong and what to do."""


@dataclass
class Manifest:
    labels: list[str]
    max_length: int
    truncation: str  # "head" or "head+tail": which tokens a text longer than max_length keeps
    pad_token_id: int
    files: dict[str, dict[str, Any]]  # name -> {"sha256", "bytes"}, every file the runtime or another tool reads
    model: str = "model.onnx"
    model_data: list[str] = field(default_factory=list)  # the graph's external weights files, next to it
    # The same model for CPUs whose INT8 kernel saturates (x86 without VNNI): weights shifted to uint8 at load by
    # constant folding, sharing `model_data`; "" for bundles without int8 GEMMs or from older exporters.
    exact_int8_model: str = ""
    tokenizer: str = "tokenizer.json"
    format_version: int = FORMAT_VERSION
    problem_type: str = PROBLEM_TYPES[0]  # version 1 bundles are single-label softmax only
    languages: list[str] = field(default_factory=list)  # ISO 639-1 codes the model was trained on; [] = unknown
    load_optimization: str = "all"  # what onnxruntime does at load; "disable" for graphs optimised at export
    onnx: dict[str, Any] = field(default_factory=dict)  # inputs, output, opset
    metrics: dict[str, Any] = field(default_factory=dict)  # what the export measured
    quantization: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)  # the command and checkpoint it came from
    tool_versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # keys of a newer exporter, kept on rewrite

    @property
    def model_files(self) -> list[str]:
        """The graphs and their weights files."""
        return [self.model, *self.model_data] + ([self.exact_int8_model] if self.exact_int8_model else [])

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **data}

    def write(self, folder: Path) -> None:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        (folder / "manifest.json").write_text(text, encoding="utf-8")

    @classmethod
    def from_dict(cls, data: object, source: str = "manifest.json") -> Manifest:
        """A checked manifest; BundleError saying what to do for anything this runtime cannot use."""
        if not isinstance(data, dict):
            raise BundleError(f"{source} must hold a JSON object; re-export the bundle")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise BundleError(f"{source} lacks {', '.join(missing)}; re-export the bundle")
        if data["format_version"] not in READABLE_VERSIONS:
            raise BundleError(
                f"bundle format_version {data['format_version']!r} is not supported by this runtime "
                f"(reads {', '.join(map(str, READABLE_VERSIONS))}); install the albert-edge-runtime "
                "matching the exporter"
            )
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        manifest = cls(
            **{k: v for k, v in data.items() if k in names}, extra={k: v for k, v in data.items() if k not in names}
        )
        manifest._check(source)
        return manifest

    def _check(self, source: str) -> None:
        labels = self.labels
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise BundleError(f"{source}: labels must be a non-empty list of strings; re-export the bundle")
        if self.problem_type not in PROBLEM_TYPES:
            raise BundleError(
                f"{source}: unknown problem_type {self.problem_type!r}; expected one of "
                f"{', '.join(PROBLEM_TYPES)}; re-export the bundle"
            )
        if not isinstance(self.max_length, int) or self.max_length < 4:
            raise BundleError(
                f"{source}: max_length must be an integer >= 4, got {self.max_length!r}; re-export the bundle"
            )
        if self.truncation not in TRUNCATIONS:
            raise BundleError(
                f"{source}: unknown truncation {self.truncation!r}; expected one of "
                f"{', '.join(TRUNCATIONS)}; re-export the bundle"
            )
        if not isinstance(self.pad_token_id, int) or self.pad_token_id < 0:
            raise BundleError(f"{source}: pad_token_id must be a non-negative integer; re-export the bundle")
        if not isinstance(self.exact_int8_model, str):
            raise BundleError(f"{source}: exact_int8_model must be a file name or empty; re-export the bundle")
        if not isinstance(self.model_data, list):
            raise BundleError(f"{source}: model_data must be a list of file names; re-export the bundle")
        if not isinstance(self.files, dict):
            raise BundleError(f"{source}: files must map file names to their sha256; re-export the bundle")
