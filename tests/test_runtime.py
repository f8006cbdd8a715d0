import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import albert_edge_runtime
from albert_edge_runtime import BundleError, SentimentClassifier
from albert_edge_runtime.bundle import file_sha256
from bundles import TEXTS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bundle(exported, tmp_path):
    """A private copy of the tiny bundle that a test may damage."""
    return shutil.copytree(exported[1], tmp_path / "bundle")


def test_predict_matches_batch_of_one_and_keeps_order(exported):
    clf = SentimentClassifier.load(exported[1])
    texts = [a + b * n for n, (a, b) in enumerate(zip(TEXTS, reversed(TEXTS)))]
    batched = clf.predict(texts)
    single = [clf.predict([t])[0] for t in texts]
    assert batched == single
    for b in batched:
        assert abs(sum(b.probabilities.values()) - 1.0) < 1e-5
    assert clf.predict([]) == []


def test_long_text_is_truncated_and_says_so(exported):
    clf = SentimentClassifier.load(exported[1])
    long, short = clf.predict(["很好" * 500, "很好"])
    assert long.truncated and not short.truncated


def test_parallel_runs_give_each_text_its_own_answer_in_order(exported):
    import itertools

    from albert_edge_runtime import RuntimeOptions

    one = SentimentClassifier.load(exported[1])
    three = SentimentClassifier.load(exported[1], RuntimeOptions(parallel=3))
    texts = [t * n for n in (1, 2, 7, 40) for t in TEXTS] * 3
    assert three.predict(texts) == one.predict(texts)
    endless = three.iter_predict(itertools.cycle(TEXTS))
    assert list(itertools.islice(endless, 50)) == one.predict(list(itertools.islice(itertools.cycle(TEXTS), 50)))
    with pytest.raises(ValueError, match="parallel must be an integer >= 1 \\(texts run at once\\), got 0"):
        SentimentClassifier.load(exported[1], parallel=0)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['thread'\]; RuntimeOptions has arena, exact_int8, mem"):
        SentimentClassifier.load(exported[1], thread=2)


def test_every_text_runs_alone_at_its_real_length(exported):
    clf = SentimentClassifier.load(exported[1])
    shapes = []
    run = clf.session.run

    def recording_run(outputs, feeds, *args):
        shapes.append(feeds["input_ids"].shape)
        return run(outputs, feeds, *args)

    clf.session.run = recording_run
    texts = [t * n for n in (1, 2, 3, 8, 40) for t in TEXTS]  # short ones, and ones cut to max_length
    assert len(clf.predict(texts)) == len(texts)
    lengths = [len(e.input_ids) for e in clf.encoder.encode_batch(texts)]
    assert shapes == [(1, n) for n in lengths]


def test_a_text_answers_bit_identically_alone_and_among_any_neighbours(exported):
    """Dynamic INT8 picks activation scales per run and padding changes float sums, so only one text per run
    makes a text's answer its own; compared exactly, not within a tolerance."""
    clf = SentimentClassifier.load(exported[1])
    texts = [t * n for n in (1, 3, 40) for t in TEXTS] + ["", "  ", "x" * 300]
    alone = [clf.predict([t])[0] for t in texts]
    assert clf.predict(texts) == alone
    assert clf.predict(texts[::-1]) == alone[::-1]
    assert list(clf.iter_predict(iter(texts))) == alone


def test_symlink_out_of_the_bundle(bundle, tmp_path):
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(bundle / "model.onnx", outside)
    os.symlink(outside, bundle / "model.onnx")
    with pytest.raises(BundleError, match="is a link or leads outside the bundle"):
        SentimentClassifier.load(bundle)


def test_missing_bundle_and_manifest(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        SentimentClassifier.load(tmp_path / "nope")
    with pytest.raises(BundleError, match="manifest.json not found"):
        SentimentClassifier.load(tmp_path)


def test_session_option_errors():
    with pytest.raises(ValueError, match="unknown optimization 'max'; expected one of disable, basic"):
        SentimentClassifier.load(None, optimization="max")
    with pytest.raises(ValueError, match="threads must be an integer >= 0"):
        SentimentClassifier.load(None, threads=-1)


def run_isolated(bundle, texts, tmp_path):
    from albert_edge_runtime.memory_probe import measure

    (tmp_path / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    return measure(None if bundle == "-" else bundle, tmp_path / "texts.txt")


def test_runtime_imports_nothing_from_the_training_side(exported, tmp_path):
    result = run_isolated(exported[1], TEXTS * 100, tmp_path)
    assert result["texts"] == 1000 and result["banned"] == []
    assert not result["tokenizers_imported"]  # a WordPiece bundle is tokenized by the built-in module


def test_cli_predict_bench_and_compare(exported, tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "albert_edge_runtime", *map(str, args)], capture_output=True, text=True
        )

    out = run("predict", "--bundle", exported[1], "这个产品很好", "质量太差了")
    assert out.returncode == 0
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["这个产品很好", "质量太差了"]
    for name in ("a.json", "b.json"):
        done = run(
            "bench",
            "--bundle",
            exported[1],
            "--iterations",
            "2",
            "--warmup",
            "1",
            "--lengths",
            "8,16",
            "--json",
            tmp_path / name,
        )
        assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["machine"]["arch"] and report["cold_start"]["peak_rss_mib"] > 0
    assert report["machine"]["albert_edge_runtime"] == albert_edge_runtime.__version__
    assert report["manifest_sha256"] == file_sha256(exported[1] / "manifest.json")
    assert set(report["latency_by_length"]) == {"8", "16"}
    compared = run("bench", "--compare", tmp_path / "a.json", tmp_path / "b.json")
    assert compared.returncode == 0 and "latency seq    8" in compared.stdout
    bad = run("predict", "--bundle", tmp_path / "nope", "x")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "does not exist" in bad.stderr
    assert run("bench", "--help").returncode == 0 and run("predict", "--help").returncode == 0


def test_table_columns_line_up_with_wide_labels():
    from albert_edge_runtime.cli import display_width

    assert display_width("正面") == 4 and display_width("positive") == 8 and display_width("ｐｏｓ") == 6


def test_version_is_the_distribution_version():
    assert albert_edge_runtime.__version__ == (ROOT / "runtime" / "albert_edge_runtime" / "VERSION").read_text().strip()


def test_cli_usage_errors_say_what_to_pass(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "albert_edge_runtime", *map(str, args)], capture_output=True, text=True
        )

    (tmp_path / "empty.json").write_text("{}")
    compared = run("bench", "--compare", tmp_path / "empty.json", tmp_path / "empty.json")
    assert compared.returncode == 1 and compared.stderr.count("\n") == 1
    assert "is not a bench report (no machine, latency_by_length" in compared.stderr
    zero = run("bench", "--iterations", "0")
    assert zero.returncode == 2 and "'0' is not a positive whole number; give 1 or more" in zero.stderr
    gone = run("predict", "--batch-size", "0", "很好")
    assert gone.returncode == 2 and "unrecognized arguments: --batch-size" in gone.stderr
    folder = run("predict", "--file", tmp_path)
    assert (
        folder.returncode == 1 and f"{tmp_path} is a folder; give a UTF-8 text file, one text per line" in folder.stderr
    )
    helps = run("predict", "--help").stdout + run("bench", "--help").stdout + run("serve", "--help").stdout
    expected = ("one JSON object per text", "untimed runs before each length", "port to listen on (default 8000)")
    for words in (*expected, "also log every request (access log)"):
        assert words in " ".join(helps.split())


# Peak RSS includes the pages of numpy/onnxruntime's shared libraries, and that part depends on the page cache
# (right after `pip install`, as in CI, the same imports take more), so the budget is on what the runtime ADDS over
# the import floor measured in the same process; docs/runtime.md has the figures and the absolute goal.
DEFAULT_BUNDLE_BUDGET_OVER_FLOOR_MIB = 27


@pytest.mark.perf
def test_default_bundle_on_1000_real_reviews_within_budget(tmp_path):
    from albert_edge.data import load_reviews
    from albert_edge_runtime.classifier import default_bundle_path
    from albert_edge_runtime.memory_probe import measure
    from bundles import exact_int8_allowance_mib

    (tmp_path / "texts.txt").write_text("\n".join(load_reviews().test.texts[:1000]), encoding="utf-8")
    allowance = exact_int8_allowance_mib(default_bundle_path())
    for exact in (False, True):  # both graphs on every host: a CPU without VNNI loads the exact one by default
        result = measure(None, tmp_path / "texts.txt", exact_int8=exact)
        print(f"\ndefault bundle, 1 000 reviews, exact_int8={exact}: {result}")
        assert result["texts"] == 1000 and result["banned"] == [] and not result["tokenizers_imported"]
        assert result["added_mib"] <= DEFAULT_BUNDLE_BUDGET_OVER_FLOOR_MIB + exact * allowance, result
        assert result["peak_mib"] <= 110, result  # gross regressions, whatever the page cache holds


def test_default_bundle_beats_chance_on_real_reviews():
    from albert_edge.data import load_reviews

    test = load_reviews().test
    clf = SentimentClassifier.load()
    preds = clf.predict(test.texts[:400])
    for single, batched in zip((clf.predict([t])[0] for t in test.texts[:400]), preds):
        # Dynamic INT8 scales depend on the batch, so probabilities move a little (docs/measurements.md); a label
        # may differ only where that straddles 0.5. Comparing probabilities checks both.
        assert all(abs(single.probabilities[k] - batched.probabilities[k]) < 0.02 for k in clf.labels)
        assert single.label == max(single.probabilities, key=single.probabilities.get)
    accuracy = sum(clf.labels.index(p.label) == y for p, y in zip(preds, test.labels[:400])) / 400
    manifest_acc = clf.bundle.manifest.metrics["verify"]["quantized_accuracy"]  # measured on dev by the export
    assert accuracy > 0.75 and abs(accuracy - manifest_acc) < 0.06


@pytest.mark.parametrize("symbol", ["👍", "😡", "♥"])
def test_a_glued_emoji_costs_the_default_model_at_most_0_3_points(symbol):
    """Without the tokenizer's character fallback an emoji glued to a review made the whole clause [UNK]."""
    import numpy as np

    from albert_edge.data import load_reviews

    test = load_reviews().test
    clf = SentimentClassifier.load()

    def accuracy(texts: list[str]) -> float:
        return float(np.mean([clf.labels.index(p.label) == y for p, y in zip(clf.predict(texts), test.labels)]))

    cost = 100 * (accuracy(test.texts) - accuracy([t + symbol for t in test.texts]))
    assert cost <= 0.3, f"{symbol} glued to every review costs {cost:.2f} points"


def test_default_bundle_predictions_equal_the_export_verify_step_on_the_test_split():
    """The export measures int8 results with the runtime's own session options, one text per run, so predict
    reproduces them exactly."""
    import numpy as np

    from albert_edge.data import load_reviews
    from albert_edge_export.verify import onnx_file_logits
    from albert_edge_runtime.classifier import default_bundle_path
    from albert_edge_runtime.session import softmax

    test = load_reviews().test
    clf = SentimentClassifier.load()
    preds = clf.predict(test.texts)
    served = np.array([[p.probabilities[label] for label in clf.labels] for p in preds])
    measured = softmax(
        onnx_file_logits(
            default_bundle_path() / "model.onnx",
            clf.encoder.encode_batch(test.texts),
        )
    )
    assert np.array_equal(measured.astype(np.float32), served.astype(np.float32))
    accuracy = float(np.mean(served.argmax(1) == np.asarray(test.labels)))
    assert accuracy == clf.bundle.manifest.metrics["test"]["quantized_accuracy"]  # written by the export's verify


WHEEL_PROBE = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]  # the installed wheel, then the venv's numpy and onnxruntime


class NoTokenizers:  # a runtime-only install has no tokenizers library: make sure nothing needs it
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tokenizers", "transformers"):
            raise ImportError(f"{name} is not installed here")


sys.meta_path.insert(0, NoTokenizers())
import albert_edge_runtime
from albert_edge_runtime import SentimentClassifier
assert albert_edge_runtime.__file__.startswith(sys.argv[1]), albert_edge_runtime.__file__
for project in ("albert_edge", "albert_edge_export"):
    try:
        __import__(project)
    except ImportError:
        pass
    else:
        raise SystemExit(project + " is importable: the probe is not isolated")
print(SentimentClassifier.load().predict(["质量太差了"])[0].label)
"""


def test_runtime_wheel_carries_the_default_bundle_and_runs_alone(tmp_path):
    """`pip wheel ./runtime` (offline: the venv's setuptools), installed into an empty target directory, then run
    by a python started without site-packages (-S: no editable installs of the project), given only the wheel
    and the directory holding numpy, onnxruntime and tokenizers."""
    import sysconfig
    import zipfile

    source = shutil.copytree(
        Path(__file__).resolve().parent.parent / "runtime",
        tmp_path / "runtime",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("albert_edge_runtime-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("model.onnx", "model.onnx.data", "tokenizer.json", "manifest.json"):
        assert f"albert_edge_runtime/default_bundle/{name}" in names
    assert "albert_edge_runtime/py.typed" in names
    assert all(n.startswith(("albert_edge_runtime/", "albert_edge_runtime-")) for n in names), names  # nothing else
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-cache-dir",
            "--quiet",
            "--target",
            str(tmp_path / "site"),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", WHEEL_PROBE, str(tmp_path / "site"), sysconfig.get_paths()["purelib"]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("negative", "positive")


def test_a_format_2_bundle_still_loads_and_answers_the_same(tmp_path):
    """Bundles written before the export optimised the graph (one model.onnx, optimised at load) keep working."""
    import onnx

    from albert_edge_runtime.bundle import file_sha256
    from albert_edge_runtime.classifier import default_bundle_path

    source = default_bundle_path()
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    old = tmp_path / "old"
    old.mkdir()
    onnx.save(onnx.load(str(source / "model.onnx")), str(old / "model.onnx"))  # weights inline again
    shutil.copyfile(source / "tokenizer.json", old / "tokenizer.json")
    for key in ("model_data", "load_optimization", "exact_int8_model"):
        del manifest[key]
    manifest["format_version"] = 2
    manifest["files"] = {name: {"sha256": file_sha256(old / name)} for name in ("model.onnx", "tokenizer.json")}
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    then, now = SentimentClassifier.load(old), SentimentClassifier.load()
    assert then.options.optimization == "all" and now.options.optimization == "disable"
    texts = ["这个产品很好", "质量太差了，再也不买了", "物流很快包装完好"]
    for a, b in zip(then.predict(texts), now.predict(texts)):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    manifest["format_version"] = 4
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="format_version 4 is not supported by this runtime \\(reads 1, 2, 3\\)"):
        SentimentClassifier.load(old)
