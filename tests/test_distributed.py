"""Training where the compute is: data-parallel pretraining with PyTorch DDP under torchrun (gloo on CPUs here),
--device, --precision, and throughput in the run's summary. CUDA paths run where CUDA is present, CPU bf16 where
the CPU has bf16 instructions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from albert_edge import distributed
from albert_edge.distributed import amp_dtype, cpu_has_bf16, resolve_device
from albert_edge.pretrain import LOG_EVERY

TINY = dict(vocab_size=600, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_length=32)  # fmt: skip


def pretrain(out, processes: int, until_step: int, *extra: str) -> subprocess.CompletedProcess:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    run = ["--limit", "200", "--batch-size", "16", "--until-step", str(until_step), "--device", "cpu", "--threads", "1"]
    command = [*launcher, "-m", "albert_edge", "pretrain", "--out", str(out), *flags, *run, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def losses(out) -> list[float]:
    return [entry["loss"] for entry in json.loads((out / "pretrain.json").read_text())]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "pt"
    first = pretrain(out, 2, LOG_EVERY)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = pretrain(out, 2, 2 * LOG_EVERY)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    return out, json.loads(first.stdout.strip().splitlines()[-1]), json.loads(resumed.stdout.strip().splitlines()[-1])


def test_two_gloo_processes_pretrain_resume_and_report_throughput(two_process_run):
    out, first, resumed = two_process_run
    assert (first["step"], resumed["step"]) == (LOG_EVERY, 2 * LOG_EVERY)  # the resumed run went on from 200
    assert first["world_size"] == resumed["world_size"] == 2 and first["device"] == "cpu"
    assert first["tokens_per_s"] > 0
    log = json.loads((out / "pretrain.json").read_text())
    assert [e["step"] for e in log] == [LOG_EVERY, 2 * LOG_EVERY] and all(e["tokens_per_s"] > 0 for e in log)
    assert log[1]["loss"] < log[0]["loss"]  # it learns
    assert torch.load(out / "pretrain_state.pt", weights_only=True)["step"] == 2 * LOG_EVERY


def test_the_ddp_checkpoint_starts_fine_tuning_and_exports(two_process_run, tmp_path):
    from albert_edge.train import TrainArgs, train
    from albert_edge_export.pipeline import run_export
    from bundles import export_options

    out = two_process_run[0]
    train(TrainArgs(out=str(tmp_path / "ft"), init_from=str(out), epochs=1, limit=60, threads=1, **TINY))
    bundle = run_export(export_options(tmp_path / "ft", tmp_path / "bundle", max_drop=100.0, max_length=32))
    assert (bundle / "model.onnx").is_file()


def test_one_and_two_processes_on_the_same_global_batch_learn_alike(two_process_run, tmp_path):
    """Same global batch of 16 pairs (one process, or two of 8): the loss curves agree within the noise of
    different masks."""
    single = pretrain(tmp_path / "one", 1, 2 * LOG_EVERY)
    assert single.returncode == 0, single.stderr[-2000:]
    one, two = losses(tmp_path / "one"), losses(two_process_run[0])
    assert len(one) == len(two) == 2
    assert all(abs(a - b) < 0.1 * a for a, b in zip(one, two)), (one, two)


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    from albert_edge.pretrain import PretrainArgs, run_pretraining

    summary = run_pretraining(
        PretrainArgs(
            out=str(tmp_path / "pt"),
            until_step=3,
            limit=50,
            batch_size=8,
            accumulate=2,
            threads=1,
            device="cpu",
            **TINY,
        )  # fmt: skip
    )
    assert summary["step"] == 3 and summary["world_size"] == 1
    with pytest.raises(ValueError, match="--accumulate 0: give 1 or more micro-batches per step"):
        PretrainArgs(out="-", accumulate=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_device_cuda_without_cuda_is_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match="--device cuda: PyTorch sees no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"
    done = subprocess.run([sys.executable, "-m", "albert_edge", "pretrain", "--out", str(tmp_path / "pt"),
                           "--device", "cuda", "--limit", "10"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "albert-edge pretrain: error: --device cuda: PyTorch sees no CUDA device" in done.stderr
    with pytest.raises(ValueError, match="unknown device 'tpu'; expected one of auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
def test_pretraining_on_cuda_with_mixed_precision(tmp_path):
    from albert_edge.pretrain import PretrainArgs, run_pretraining

    summary = run_pretraining(PretrainArgs(out=str(tmp_path / "pt"), until_step=LOG_EVERY, limit=200, batch_size=16,
                                           device="cuda", **TINY))  # fmt: skip
    assert summary["device"].startswith("cuda") and summary["tokens_per_s"] > 0
    log = losses(tmp_path / "pt")
    assert len(log) == 1 and log[0] < 6.5  # below ln(600): it learned something in mixed precision


def test_precision_is_fp32_on_cpus_unless_bf16_is_asked_and_the_cpu_has_it(monkeypatch, tmp_path):
    from albert_edge.train import TrainArgs, train

    cpu = torch.device("cpu")
    assert amp_dtype(cpu, "auto") is None and amp_dtype(cpu, "fp32") is None  # published CPU recipes repeat
    with pytest.raises(ValueError, match="unknown precision 'fp8'; expected one of auto, fp32, bf16"):
        amp_dtype(cpu, "fp8")
    monkeypatch.setattr(distributed, "cpu_has_bf16", lambda: True)
    assert amp_dtype(cpu, "bf16") is torch.bfloat16
    monkeypatch.setattr(distributed, "cpu_has_bf16", lambda: False)
    emulated = "--precision bf16: this CPU has no bf16 instructions .* use --precision fp32 \\(or auto\\)"
    with pytest.raises(ValueError, match=emulated):
        amp_dtype(cpu, "bf16")
    with pytest.raises(ValueError, match=emulated):  # refused before the data and the teacher cost minutes
        train(TrainArgs(out=str(tmp_path / "ft"), precision="bf16", device="cpu", limit=60, threads=1, **TINY))
    assert not (tmp_path / "ft" / "training.json").exists()


@pytest.mark.skipif(not cpu_has_bf16(), reason="needs a CPU with bf16 instructions (AVX512-BF16, AMX or arm64 BF16)")
def test_bf16_on_the_cpu_pretrains_fine_tunes_and_is_recorded_per_call(tmp_path):
    from albert_edge.pretrain import PretrainArgs, run_pretraining
    from albert_edge.train import TrainArgs, train

    common = dict(out=str(tmp_path / "pt"), limit=200, batch_size=16, threads=1, device="cpu", **TINY)
    run_pretraining(PretrainArgs(until_step=3, precision="fp32", **common))
    assert run_pretraining(PretrainArgs(until_step=LOG_EVERY, precision="bf16", **common))["precision"] == "bf16"
    calls = torch.load(tmp_path / "pt" / "pretrain_state.pt", weights_only=True)["calls"]
    assert [(c["from_step"], c["to_step"], c["precision"], c["threads"]) for c in calls] == [
        (0, 3, "fp32", 1), (3, LOG_EVERY, "bf16", 1)
    ]  # fmt: skip
    run_pretraining(PretrainArgs(until_step=LOG_EVERY, precision="fp32", **(common | {"out": str(tmp_path / "fp")})))
    bf16, fp32 = losses(tmp_path / "pt")[0], losses(tmp_path / "fp")[0]
    assert abs(bf16 - fp32) < 0.01 * fp32, (bf16, fp32)  # the same batches learn alike in either precision
    summary = train(TrainArgs(out=str(tmp_path / "ft"), init_from=str(tmp_path / "pt"), precision="bf16", epochs=1,
                              limit=60, threads=1, device="cpu", **TINY))  # fmt: skip
    assert summary["args"]["precision"] == "bf16" and 0.0 <= summary["best_dev_accuracy"] <= 1.0
