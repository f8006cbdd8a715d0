"""Anything an app may send the runtime: a correct answer or an error naming the item, never a crash or hang."""

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from albert_edge_runtime import SentimentClassifier
from bundles import TEXTS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clf(exported):
    return SentimentClassifier.load(exported[1])


def assert_valid(clf, prediction):
    assert prediction.label in clf.labels
    assert abs(sum(prediction.probabilities.values()) - 1.0) < 1e-5
    assert prediction.score == max(prediction.probabilities.values())


ODD_TEXTS = {
    "empty": "",
    "whitespace": " \t\n\u3000 ",
    "nul_and_controls": "好\x00评\x01\x1b[31m\x7f\u200b\ufeff",
    "emoji_mixed_scripts": "质量👍 great qualité 品質が良い 좋아요 🇨🇳🏳️‍🌈",
    "lone_surrogates": "\ud800好\udfff",
    "rtl_and_combining": "مرحبا e\u0301\u0301\u0301 שלום",
    "only_punctuation": "！！！。。。???",
}


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_odd_texts_get_a_valid_prediction(clf, name):
    (prediction,) = clf.predict([ODD_TEXTS[name]])
    assert_valid(clf, prediction)
    assert not prediction.truncated


def test_lone_surrogate_counts_as_a_replacement_character(clf):
    assert clf.predict(["\ud800好"]) == clf.predict(["\ufffd好"])


@pytest.mark.perf
def test_ten_megabyte_text_is_truncated_quickly_with_the_same_ends(clf):
    head, tail = "物流很快" * 40, "再也不买了" * 40
    huge = head + "一般" * 5_000_000 + tail  # 10 M characters
    start = time.perf_counter()
    (prediction,) = clf.predict([huge])
    seconds = time.perf_counter() - start
    assert prediction.truncated and seconds < 5, seconds  # a hang guard: without the pre-cut it takes many seconds
    # Only the head and tail survive truncation, so the middle's size must not change the answer.
    assert prediction == clf.predict([head + "一般" * 3000 + tail])[0]


@pytest.mark.parametrize(
    "bad, index, kind",
    [
        ([None], 0, "NoneType"),
        (["好", 3], 1, "int"),
        (["好", "差", b"bytes"], 2, "bytes"),
        (["好", ["nested"]], 1, "list"),
        ([1.5], 0, "float"),
    ],
)
def test_non_text_items_are_named_by_index(clf, bad, index, kind):
    with pytest.raises(TypeError, match=f"item {index} is {kind}, not str; pass texts only"):
        clf.predict(bad)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("一句话", "wrap a single text in a list"),
        (b"bytes", "wrap a single text in a list"),
        (5, "predict takes a list of texts, not int"),
        ({"text": "好"}, "predict takes a list of texts, not dict"),
    ],
)
def test_wrong_container_is_refused(clf, bad, message):
    with pytest.raises(TypeError, match=message):
        clf.predict(bad)


def test_empty_list_generator_and_tuple(clf):
    assert clf.predict([]) == [] and clf.predict(iter([])) == []
    expected = clf.predict(TEXTS)
    assert clf.predict(t for t in TEXTS) == expected and clf.predict(tuple(TEXTS)) == expected


def test_endless_generator_is_refused_not_consumed_forever(clf, monkeypatch):
    import itertools

    import albert_edge_runtime.classifier as classifier

    monkeypatch.setattr(classifier, "MAX_BATCH_ITEMS", 1000)
    with pytest.raises(ValueError, match="more than 1000 texts in one call; pass an iterator to iter_predict, which"):
        clf.predict(itertools.repeat("好"))


def test_hundred_thousand_items_in_one_call(clf):
    variants = [TEXTS[i % len(TEXTS)] * (1 + i % 3) for i in range(30)]
    texts = [variants[i % len(variants)] for i in range(100_000)]
    predictions = clf.predict(texts)
    assert len(predictions) == 100_000
    answers: dict[str, set] = {}
    for text, prediction in zip(texts, predictions):
        answers.setdefault(text, set()).add(tuple(prediction.probabilities.values()))
    expected = {t: tuple(clf.predict([t])[0].probabilities.values()) for t in variants}
    assert answers == {t: {p} for t, p in expected.items()}  # each text's answer, bit for bit, wherever it sat


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=()), max_size=300), max_size=5))
def test_arbitrary_unicode_never_raises(clf, texts):
    predictions = clf.predict(texts)
    assert len(predictions) == len(texts)
    for prediction in predictions:
        assert_valid(clf, prediction)


def mixed_texts(n: int) -> list[str]:
    return [TEXTS[i % len(TEXTS)] * (1 + (i * 7) % 40) + ODD_TEXTS["emoji_mixed_scripts"][: i % 9] for i in range(n)]


def test_eight_threads_get_exactly_the_sequential_results(clf):
    texts = mixed_texts(500)
    expected = [clf.predict([t])[0] for t in texts]
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(k: int) -> None:
        try:
            barrier.wait()
            order = texts[k:] + texts[:k]  # every thread in a different order: no accidental lock-step
            got = [clf.predict([t])[0] for t in order]
            results[k] = got[-k:] + got[:-k] if k else got
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8
    assert all(results[k] == expected for k in range(8))  # label, score, probabilities, truncated: all exact


def test_asyncio_app_through_a_thread_pool(clf):
    texts = mixed_texts(200)
    expected = [clf.predict([t])[0] for t in texts]

    async def serve() -> list:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            jobs = [loop.run_in_executor(pool, clf.predict, [t]) for t in texts]
            return [r[0] for r in await asyncio.gather(*jobs)]

    assert asyncio.run(serve()) == expected


@pytest.mark.perf
def test_soak_rss_does_not_grow(tmp_path):
    """CI-sized soak (the 100 000-call run is `python scripts/soak.py --calls 100000`)."""
    report = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "soak.py"),
            "--calls",
            "5000",
            "--warmup",
            "1000",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["calls"] == 5000 and len(result["samples"]) >= 10
    assert result["growth_after_warmup_mib"] <= 5.0, result


def damage_flip(bundle, name="model.onnx"):
    data = bytearray((bundle / name).read_bytes())
    data[100] ^= 0x01
    (bundle / name).write_bytes(bytes(data))


def damage_manifest(**changes):
    def damage(bundle):
        manifest = json.loads((bundle / "manifest.json").read_text())
        (bundle / "manifest.json").write_text(json.dumps({**manifest, **changes}))

    return damage


DAMAGES = {
    "flipped_byte": (damage_flip, "model.onnx is corrupt or was changed: sha256"),
    "truncated_model": (
        lambda b: (b / "model.onnx").write_bytes((b / "model.onnx").read_bytes()[:-10]),
        "model.onnx is corrupt or was changed",
    ),
    "flipped_weight": (lambda b: damage_flip(b, "model.onnx.data"), "model.onnx.data is corrupt or was changed"),
    "weights_outside": (damage_manifest(model_data=["../weights"]), "must be relative paths inside the bundle"),
    "missing_tokenizer": (lambda b: (b / "tokenizer.json").unlink(), "tokenizer.json is missing from the bundle"),
    "unknown_version": (damage_manifest(format_version=99), "format_version 99 is not supported by this runtime"),
    "parent_path": (damage_manifest(model="../../etc/passwd"), "must be relative paths inside the bundle"),
    "absolute_path": (damage_manifest(model="/etc/passwd"), "must be relative paths inside the bundle"),
    "manifest_not_json": (lambda b: (b / "manifest.json").write_text("{not json"), "manifest.json is not valid JSON"),
}


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_damaged_bundle_is_refused_before_onnxruntime_sees_it(exported, tmp_path, monkeypatch, name):
    import shutil

    import albert_edge_runtime.classifier as classifier

    bundle = shutil.copytree(exported[1], tmp_path / "bundle")
    damage, message = DAMAGES[name]
    damage(bundle)

    def no_session(*args, **kwargs):
        raise AssertionError("onnxruntime was handed a damaged bundle")

    monkeypatch.setattr(classifier, "make_session", no_session)
    from albert_edge_runtime import BundleError

    with pytest.raises(BundleError, match=message):
        SentimentClassifier.load(bundle)


def test_interrupted_bundle_write_leaves_nothing(exported, tmp_path, monkeypatch):
    import albert_edge_export.bundle as bundle_step

    def interrupted() -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_step, "tool_versions", interrupted)  # called after the files are copied
    out = tmp_path / "out" / "bundle"
    with pytest.raises(KeyboardInterrupt):
        bundle_step.stage_bundle(
            out,
            {"model.onnx": exported[1] / "model.onnx"},
            "{}",
            {"config.json": "{}"},
            {"labels": ["negative", "positive"]},
        )
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []


def test_interrupted_export_leaves_nothing(exported, tmp_path, monkeypatch):
    import albert_edge_export.pipeline as pipeline
    from bundles import export_options

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "guarded_quantize", interrupted)
    monkeypatch.chdir(tmp_path)  # a temp file left in the working directory would show up here
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_export(export_options(exported[0], tmp_path / "bundle", verify_data="random", max_drop=100.0))
    assert list(tmp_path.iterdir()) == []


CLI_COMMANDS = [
    ["albert_edge_runtime", "predict"],
    ["albert_edge_runtime", "bench"],
    ["albert_edge", "train"],
    ["albert_edge", "eval"],
    ["albert_edge_export", "export"],
]


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", CLI_COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    done = run_module(*command, "--help")
    assert done.returncode == 0 and "usage:" in done.stdout and done.stderr == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["albert_edge_runtime", "predict", "--bundle", "/no/such/bundle", "x"],
            "bundle folder /no/such/bundle does not",
        ),
        (["albert_edge_runtime", "predict", "--file", "/no/such/file.txt"], "text file /no/such/file.txt not found"),
        (["albert_edge_runtime", "predict"], "no texts given"),
        (["albert_edge_runtime", "bench", "--lengths", "8,x"], "--lengths takes comma-separated integers"),
        (["albert_edge_runtime", "bench", "--compare", "/no/a.json", "/no/b.json"], "/no/a.json"),
        (["albert_edge", "eval", "/no/such/ckpt"], "config.json not found"),
        (
            ["albert_edge_export", "export", "/no/such/ckpt", "--out", "/tmp/never-written-albert-edge"],
            "checkpoint folder /no/such/ckpt does not exist",
        ),
        (
            ["albert_edge", "train", "--out", "/tmp/never-written-albert-edge", "--augment", "2", "--distill", "0"],
            "--augment needs --distill",
        ),
    ],
)
def test_cli_failures_are_one_line_and_nonzero(args, message):
    done = run_module(*args)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert not os.path.exists("/tmp/never-written-albert-edge")  # refused before any work
