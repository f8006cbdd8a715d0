"""What the runtime learns of the machine: usable cores from affinity and cgroup quotas, the memory limit, the
CPU's own features (not /proc/cpuinfo's under an emulator), and the thread count onnxruntime gets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from emulated import needs_emulator, run_haswell

from albert_edge_runtime import machine
from albert_edge_runtime.session import intra_op_threads

AFFINITY = len(os.sched_getaffinity(0))


def cgroup(tmp_path, **files):
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return tmp_path


@pytest.mark.parametrize(
    "files, quota, cores",
    [
        ({"cpu.max": "max 100000"}, None, AFFINITY),
        ({"cpu.max": "50000 100000"}, 0.5, 1),  # half a CPU still runs one thread
        ({"cpu.max": "150000 100000"}, 1.5, min(AFFINITY, 2)),
        ({"cpu__cpu.cfs_quota_us": "100000", "cpu__cpu.cfs_period_us": "100000"}, 1.0, 1),  # cgroup v1
        ({"cpu__cpu.cfs_quota_us": "-1", "cpu__cpu.cfs_period_us": "100000"}, None, AFFINITY),
        ({}, None, AFFINITY),
    ],
)
def test_usable_cores_follow_the_cgroup_quota(tmp_path, files, quota, cores):
    root = cgroup(tmp_path, **files)
    assert machine.cgroup_cpu_quota(root) == quota and machine.usable_cores(root) == cores


def test_memory_limit_from_cgroup_v2_and_v1(tmp_path):
    assert machine.memory_limit(cgroup(tmp_path / "a", **{"memory.max": "536870912"})) == 512 * 2**20
    assert machine.memory_limit(cgroup(tmp_path / "b", **{"memory.max": "max"})) is None
    assert machine.memory_limit(cgroup(tmp_path / "c", **{"memory__memory.limit_in_bytes": str(2**63 - 4096)})) is None
    assert machine.memory_limit(tmp_path / "none") is None


def test_a_quota_is_named_in_the_advice_and_caps_the_threads(tmp_path, monkeypatch):
    root = cgroup(tmp_path, **{"cpu.max": "100000 100000", "memory.max": "268435456"})
    report = machine.inspect(root)
    assert report.usable_cores == 1 and report.memory_limit_bytes == 256 * 2**20
    if report.cores_online > 1:
        assert "may use 1 of" in report.advice and "a CPU quota of 1" in report.advice
    assert "256 MiB" in machine.render(report)
    monkeypatch.setattr("albert_edge_runtime.session.usable_cores", lambda: 2)
    assert [intra_op_threads(n) for n in (0, 1, 2, 8)] == [2, 1, 2, 2]  # never past the usable cores


@pytest.mark.skipif(not shutil.which("taskset"), reason="needs taskset (util-linux)")
def test_taskset_limits_the_cores_doctor_reports_and_sessions_use():
    code = (
        "import json; from albert_edge_runtime import SentimentClassifier; from albert_edge_runtime.machine import "
        "inspect; from albert_edge_runtime.session import intra_op_threads; "
        "c = SentimentClassifier.load(threads=0); c.predict(['很好']); "
        "print(json.dumps([inspect().usable_cores, intra_op_threads(0)]))"
    )
    done = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [1, 1] and "pthread_setaffinity" not in done.stderr


def test_doctor_prints_a_report_and_json():
    from albert_edge_runtime.cli import main

    assert main(["doctor"]) == 0
    done = subprocess.run([sys.executable, "-m", "albert_edge_runtime", "doctor", "--json"], capture_output=True)
    report = json.loads(done.stdout)
    assert {"arch", "features", "usable_cores", "int8_kernel", "int4_kernel", "advice"} <= set(report)


@needs_emulator
def test_under_an_emulated_cpu_without_vnni_doctor_believes_the_cpu_not_proc_cpuinfo():
    report = json.loads(run_haswell("-m", "albert_edge_runtime", "doctor", "--json").stdout)
    assert "avx2" in report["features"] and "avx512_vnni" not in report["features"]  # whatever the host has
    assert not {"avx_vnni", "amx_int8"} & set(report["features"])  # /proc/cpuinfo's word is the host's here
    assert "without VNNI" in report["int8_kernel"] and "load their exact graph here" in report["advice"]


@pytest.mark.parametrize(
    "machine, hint",
    [("armv7l", "no wheels for 32-bit systems: install a 64-bit OS"), ("x86_64", "pip install onnxruntime")],
)
def test_without_onnxruntime_the_import_says_why_and_what_to_do(machine, hint):
    code = (
        "import sys, platform; sys.modules['onnxruntime'] = None; "
        f"platform.machine = lambda: {machine!r}; import albert_edge_runtime"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and last.startswith("ImportError: albert-edge-runtime needs onnxruntime")
    assert f"not importable on {machine}" in last and hint in last


@pytest.mark.parametrize(
    "arch, features, kernel, said",
    [
        ("aarch64", {}, "NEON without dot product", "a Pi 4's Cortex-A72"),
        ("aarch64", {"asimddp": "auxv"}, "dot product (sdot/udot)", "fast path"),
        ("x86_64", {"avx2": "cpuid"}, "AVX2 without VNNI", "load their exact graph here"),
        ("x86_64", {"avx2": "cpuid", "avx512_vnni": "cpuid"}, "VNNI", "only for its smaller download"),
    ],
)
def test_kernels_and_advice_follow_the_features(arch, features, kernel, said):
    m = machine.Machine(arch, "cpu", features, 4, 4)
    m.int8_kernel, m.int4_kernel = machine.int8_kernel(arch, features), machine.int4_kernel(arch, features)
    assert m.int8_kernel.startswith(kernel) and said in machine.advice(m)


@pytest.mark.parametrize(
    "arch, features, saturates",
    [
        ("x86_64", {"avx2": "cpuid"}, True),
        ("x86_64", {"avx2": "cpuid", "avx512f": "cpuid"}, True),  # AVX-512 without VNNI saturates as well
        ("x86_64", {"avx2": "cpuid", "avx512_vnni": "cpuid"}, False),
        ("x86_64", {"avx2": "cpuid", "avx_vnni": "/proc/cpuinfo"}, False),
        ("aarch64", {}, False),  # NEON's integer arithmetic is exact
    ],
)
def test_which_cpus_saturate_int8(arch, features, saturates):
    assert machine.int8_saturates(arch, features) is saturates


@pytest.mark.skipif(machine.platform.machine() != "x86_64", reason="x86 feature probing")
def test_proc_cpuinfo_is_not_believed_where_it_contradicts_cpuid(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: sse avx2 avx512f avx512_vnni avx_vnni\n")
    monkeypatch.setattr(machine, "_numpy_cpu_features", lambda: {"AVX2": True})  # an emulated Haswell's answer
    assert machine.cpu_features(cpuinfo) == {"avx2": "cpuid"}
    monkeypatch.setattr(machine, "_numpy_cpu_features", lambda: {"AVX2": True, "AVX512F": True, "AVX512VNNI": True})
    assert machine.cpu_features(cpuinfo)["avx_vnni"] == "/proc/cpuinfo"


@pytest.mark.parametrize(
    "arch, features, k, block, path",
    [
        ("aarch64", {"asimddp": "auxv"}, 1248, 32, "int8 compute (KleidiAI)"),
        ("aarch64", {"i8mm": "auxv"}, 128, 128, "int8 compute (KleidiAI)"),
        ("aarch64", {"asimddp": "auxv"}, 312, 32, "not KleidiAI (it takes blocks that are multiples of 32 dividing"),
        ("aarch64", {"asimddp": "auxv"}, 1248, 16, "not KleidiAI"),
        ("aarch64", {}, 1248, 32, "fp32 compute (no dot product"),
        ("x86_64", {"avx2": "cpuid"}, 1248, 32, "MLAS 4-bit kernels"),
    ],
)
def test_each_4bit_gemm_kind_gets_its_path(arch, features, k, block, path):
    assert machine.nbits_path(arch, features, k, block).startswith(path)


def test_doctor_says_which_graph_and_kernels_a_bundle_takes_here():
    done = subprocess.run(
        [sys.executable, "-m", "albert_edge_runtime", "doctor", "--bundle", str(machine.Path(__file__).parent.parent
         / "runtime" / "albert_edge_runtime" / "default_bundle"), "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = json.loads(done.stdout)["bundle"]
    graph = "the exact-INT8 graph" if machine.this_cpu_int8_saturates() else "its own graph"
    assert line.startswith("INT8 GEMMs: ") and line.endswith(f"loads {graph}")
