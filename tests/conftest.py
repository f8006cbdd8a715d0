"""Fixtures only; the helpers they use live in hf_folders.py (reference models) and bundles.py (tiny bundles)."""

from __future__ import annotations

import pytest

from hf_folders import hf_model


@pytest.fixture
def tiny_hf():
    return hf_model()


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """(checkpoint folder, bundle folder) of a tiny model, exported once per test session."""
    from albert_edge_export.pipeline import run_export
    from bundles import export_options, labelled_file, tiny_checkpoint

    tmp = tmp_path_factory.mktemp("export")
    ckpt = tiny_checkpoint(tmp / "ckpt")
    data = labelled_file(tmp / "held_out.tsv", ckpt)
    return ckpt, run_export(export_options(ckpt, tmp / "bundle", verify_data=str(data), max_drop=100.0))
