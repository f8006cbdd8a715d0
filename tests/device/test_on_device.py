"""Runtime checks that need nothing but albert_edge_runtime: run on emulated ARM by scripts/arm-check.sh
(and on x86 as part of the normal suite)."""

import shutil
import sys
import threading

import pytest

from albert_edge_runtime import BundleError, SentimentClassifier
from albert_edge_runtime.classifier import default_bundle_path

REVIEWS = [
    "我非常喜欢这个产品，它让我感到非常满意",
    "质量太差了，再也不买了",
    "物流很快，包装完好，好评",
    "客服态度恶劣，退货拖了两个星期",
]


def test_default_bundle_classifies_obvious_reviews():
    clf = SentimentClassifier.load()
    labels = [p.label for p in clf.predict(REVIEWS)]
    assert labels == ["positive", "negative", "positive", "negative"]


def test_threads_agree_with_sequential():
    clf = SentimentClassifier.load()
    texts = [r * (1 + i % 5) for i, r in enumerate(REVIEWS * 10)]
    expected = [clf.predict([t])[0].score for t in texts]
    out = {}
    workers = [
        threading.Thread(target=lambda k=k: out.__setitem__(k, [clf.predict([t])[0].score for t in texts]))
        for k in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(out) == 4 and all(v == expected for v in out.values())


def test_tampered_copy_is_refused(tmp_path):
    bundle = shutil.copytree(default_bundle_path(), tmp_path / "b")
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[100] ^= 1
    (bundle / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="corrupt or was changed"):
        SentimentClassifier.load(bundle)


def test_no_training_side_modules():
    import subprocess

    code = (
        "import sys; from albert_edge_runtime import SentimentClassifier; "
        "SentimentClassifier.load().predict(['很好']); "
        "print(sorted({'torch', 'transformers', 'optimum', 'onnx', 'albert_edge', 'tokenizers'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "text, cpu, flags",
    [
        (
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n"
            "flags\t\t: fpu avx2 avx512f avx512_vnni\n",
            "AMD EPYC",
            ["avx2", "avx512f", "avx512_vnni"],
        ),
        (
            "processor\t: 0\nFeatures\t: fp asimd asimddp crc32\nCPU part\t: 0xd0b\n\n"
            "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n",
            "Raspberry Pi 5 Model B Rev 1.0",
            ["asimd", "asimddp"],
        ),
    ],
)
def test_machine_description_names_the_cpu_and_int8_features(tmp_path, text, cpu, flags):
    from albert_edge_runtime.bench import describe_machine

    (tmp_path / "cpuinfo").write_text(text)
    machine = describe_machine(1, tmp_path / "cpuinfo")
    assert machine["cpu"] == cpu and machine["int8_cpu_flags"] == flags and machine["threads"] == 1


def test_async_batcher_answers_like_predict():
    from albert_edge_runtime import AsyncSentimentClassifier

    clf = SentimentClassifier.load()
    expected = [p.probabilities for p in clf.predict(REVIEWS)]
    with AsyncSentimentClassifier(clf, max_wait_ms=20) as front:
        futures = [front.submit([text]) for text in REVIEWS]
        answers = [f.result(timeout=300)[0].probabilities for f in futures]
    for got, want in zip(answers, expected):
        assert max(abs(got[k] - want[k]) for k in want) < 0.02  # dynamic INT8 scales are per batch


def test_http_service_answers_on_loopback(tmp_path):
    """`albert-edge-run serve` on 127.0.0.1: health, one request with several texts, a bad request."""
    import http.client
    import json
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "albert_edge_runtime", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def request(method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    try:
        deadline = time.monotonic() + 300  # emulated CPUs load slowly
        while True:
            try:
                status, health = request("GET", "/healthz")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()
                time.sleep(0.5)
        assert status == 200 and health["status"] == "ok"
        status, answer = request("POST", "/v1/sentiment", json.dumps({"texts": REVIEWS}).encode())
        assert status == 200
        assert [p["label"] for p in answer["predictions"]] == ["positive", "negative", "positive", "negative"]
        status, error = request("POST", "/v1/sentiment", b'{"texts": [1]}')
        assert status == 422 and "texts[0] is int" in error["error"]
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_doctor_reads_the_cpu_itself():
    """Under qemu (the ARM check sets QEMU_CPU) /proc/cpuinfo is the host's or faked; the features must be the
    emulated CPU's own: a Cortex-A72 has no dot product, a Cortex-A76 has it."""
    import os
    import platform

    from albert_edge_runtime.machine import inspect

    machine = inspect()
    assert machine.arch == platform.machine().lower() and 1 <= machine.usable_cores <= machine.cores_online
    assert machine.int8_kernel and machine.int4_kernel and machine.advice
    emulated = os.environ.get("QEMU_CPU", "")
    if emulated in ("cortex-a72", "cortex-a76"):
        assert ("asimddp" in machine.features) == (emulated == "cortex-a76"), machine.features
        assert machine.int8_kernel.startswith("dot product") == (emulated == "cortex-a76"), machine.int8_kernel
        assert ("without dot product" in machine.advice) == (emulated == "cortex-a72"), machine.advice
        assert ("fp32 compute (no dot product" in machine.int4_kernel) == (emulated == "cortex-a72")
        from albert_edge_runtime.machine import bundle_paths

        groups = [{"bits": 4, "K": k, "block_size": 32, "count": 1} for k in (1248, 312)]
        fits, misses = bundle_paths(machine.arch, machine.features, "", groups)
        if emulated == "cortex-a76":  # KleidiAI needs blocks that are multiples of 32 dividing K
            assert fits.endswith("int8 compute (KleidiAI)") and "not KleidiAI" in misses
        else:
            assert "fp32 compute (no dot product" in fits and "fp32 compute (no dot product" in misses
