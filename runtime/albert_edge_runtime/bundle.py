"""Reading a bundle directory safely: manifest checked, paths kept inside, every file's sha256 verified
BEFORE onnxruntime or tokenizers see a byte."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .manifest import BundleError, Manifest

__all__ = ["Bundle", "BundleError", "Manifest", "read_bundle", "file_sha256", "sha256_hex"]


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: Manifest
    model_path: Path  # verified; onnxruntime reads it itself so no second copy of the weights lives in Python
    tokenizer_json: str
    exact_int8_path: Path | None = None  # verified like the model; for CPUs whose INT8 kernel saturates

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def model_bytes(self) -> int:
        """The graph and its weights files, as stored."""
        return sum((self.root / name).stat().st_size for name in self.manifest.model_files)


def _sha256():
    # CPython's built-in SHA-256 instead of hashlib: hashlib loads OpenSSL's libcrypto, a large share of the
    # memory budget (docs/runtime.md), and the built-in is fast enough for a bundle's few megabytes.
    try:
        from _sha2 import sha256  # Python >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.10, 3.11
        except ImportError:  # a build without the built-in module
            from hashlib import sha256
    return sha256()


def sha256_hex(data: bytes) -> str:
    h = _sha256()
    h.update(data)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = _sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _inside(root: Path, name: object) -> Path:
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise BundleError(f"manifest names {name!r}: file names must be relative paths inside the bundle")
    path = root / name
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        raise BundleError(f"{name!r} is a link or leads outside the bundle {root}; copy the real file in")
    return path


def _read_manifest(root: Path) -> Manifest:
    path = root / "manifest.json"
    if not path.is_file():
        raise BundleError(f"{path} not found; a bundle is a folder written by `albert-edge export`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); re-export the bundle") from exc
    return Manifest.from_dict(data, str(path))


def _verified_path(root: Path, name: str, files: dict[str, Any]) -> tuple[Path, str]:
    path = _inside(root, name)
    entry = files.get(name)
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise BundleError(f"manifest has no sha256 for {name!r}; re-export the bundle")
    if not path.is_file():
        raise BundleError(f"{path} is missing from the bundle; copy the whole bundle folder")
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        raise BundleError(
            f"{path} is corrupt or was changed: sha256 {digest[:16]}... does not match "
            f"the manifest's {str(entry['sha256'])[:16]}...; copy the bundle again"
        )
    return path, digest


def read_bundle(root: str | Path) -> Bundle:
    root = Path(root)
    if root.is_file():
        raise BundleError(f"{root} is a file; give the bundle folder that holds it and manifest.json: {root.parent}")
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} does not exist")
    manifest = _read_manifest(root)
    model_path, _ = _verified_path(root, manifest.model, manifest.files)
    for name in manifest.model_data:  # onnxruntime reads them itself, next to the model
        _verified_path(root, name, manifest.files)
    exact = _verified_path(root, manifest.exact_int8_model, manifest.files)[0] if manifest.exact_int8_model else None
    tokenizer_path, digest = _verified_path(root, manifest.tokenizer, manifest.files)
    tokenizer = tokenizer_path.read_bytes()
    if sha256_hex(tokenizer) != digest:  # read once more to parse: make sure it is still the verified file
        raise BundleError(f"{tokenizer_path} changed while loading; copy the bundle again")
    try:
        tokenizer_json = tokenizer.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{manifest.tokenizer} is not UTF-8 text; re-export the bundle") from exc
    return Bundle(root, manifest, model_path, tokenizer_json, exact)
