"""A Hugging Face ALBERT exports faithfully: the bundle answers like transformers' own pipeline on raw text, one
text at a time and batched with texts of other lengths, with equal token ids, for every head and tokenizer layout."""

import json

import numpy as np
import pytest

from albert_edge.checkpoint import text_settings
from albert_edge_export.pipeline import ExportOptions, run_export
from albert_edge_export.reference import EndToEndError, outputs_of
from albert_edge_runtime import SentimentClassifier
from hf_folders import INT8_TOLERANCE, english_albert, reviews, spiece_only_albert, vocab_txt_albert

LONG = " ".join(reviews(40, seed=9)[0])  # far over the 64 positions: truncated


def export(folder, out, weights="int8", **overrides):
    """The options `albert-edge export FOLDER --out OUT` picks for a foreign checkpoint: its defaults."""
    max_length, truncation = text_settings(folder)
    options = dict(
        checkpoint=folder,
        out=out,
        max_drop=0.5,
        verify_data="probes",
        max_length=max_length,
        truncation=truncation,
        per_channel=False,
        quantize_embeddings=True,
        weights=weights,
    )
    return run_export(ExportOptions(**{**options, **overrides}))


def texts():
    return reviews(40, seed=5)[0] + [LONG, "", "Honestly, a great laptop.", "NAÏVE Café!!"]


def pipeline_outputs(folder, items, problem_type, batch_size=1):
    """transformers' text-classification pipeline on the checkpoint folder: the truth."""
    from transformers import AutoConfig, pipeline

    labels = AutoConfig.from_pretrained(str(folder)).id2label
    function = "none" if problem_type == "regression" else None
    pipe = pipeline(
        "text-classification",
        model=str(folder),
        tokenizer=str(folder),
        top_k=None,
        function_to_apply=function,
        device="cpu",
    )
    answers = pipe(items, batch_size=batch_size, truncation=True, max_length=64)
    order = [labels[i] for i in range(len(labels))]
    return np.array([[next(a["score"] for a in row if a["label"] == name) for name in order] for row in answers])


def runtime_outputs(bundle, items):
    clf = SentimentClassifier.load(bundle)
    alone = outputs_of([clf.predict([t])[0] for t in items], clf.labels, clf.problem_type)
    together = outputs_of(clf.predict(items), clf.labels, clf.problem_type)
    return clf, alone, together


def assert_like_transformers(folder, bundle, problem_type, tolerance):
    from transformers import AutoTokenizer

    items = texts()
    clf, alone, together = runtime_outputs(bundle, items)
    reference = AutoTokenizer.from_pretrained(str(folder))
    assert [e.input_ids for e in clf.encoder.encode_batch(items)] == [
        reference(t, truncation=True, max_length=64)["input_ids"] for t in items
    ]
    for batch_size in (1, 8):
        expected = pipeline_outputs(folder, items, problem_type, batch_size)
        assert np.abs(alone - expected).max() <= tolerance
        assert np.abs(together - expected).max() <= tolerance
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["problem_type"] == problem_type and manifest["truncation"] == "head"
    e2e = manifest["metrics"]["end_to_end"]
    assert e2e["token_id_mismatches"] == 0 and e2e["max_abs_diff"] <= tolerance and e2e["count"] > 30
    assert e2e["max_batch_effect"] == 0.0
    return clf


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    """(folder, int8 bundle, fp32 bundle) of an English SentencePiece ALBERT saved after padded training."""
    tmp = tmp_path_factory.mktemp("english")
    folder = english_albert(tmp / "hf")
    return folder, export(folder, tmp / "int8"), export(folder, tmp / "fp32", weights="fp32")


def test_saved_tokenizer_really_carries_padding(english):
    saved = json.loads((english[0] / "tokenizer.json").read_text())
    assert saved["padding"] is not None and saved["truncation"] is not None  # the trap this file is about
    bundled = json.loads((english[1] / "tokenizer.json").read_text())
    assert bundled["padding"] is None and bundled["truncation"] is None


@pytest.mark.parametrize("weights, tolerance", [("fp32", 1e-4), ("int8", INT8_TOLERANCE[0])])
def test_english_sentencepiece_answers_like_the_pipeline(english, weights, tolerance):
    bundle = english[2] if weights == "fp32" else english[1]
    assert_like_transformers(english[0], bundle, "single_label_classification", tolerance)


@pytest.mark.parametrize("which", [1, 2])
def test_a_text_does_not_depend_on_its_neighbours(english, which):
    """Old bundles carried the user's padding, and dynamic INT8 scaled activations per batch: a short text
    batched with a long one got a different answer. Now the same, bit for bit, alone and among 31 others."""
    clf = SentimentClassifier.load(english[which])
    short = "Honestly, a great laptop."
    alone = clf.predict([short])[0]
    for neighbours in ([LONG], [LONG[:200], "bad"], ["x"] * 7, texts()[:31]):
        assert clf.predict([*neighbours, short])[-1] == alone
    items = texts()[:32]
    assert clf.predict(items) == [clf.predict([t])[0] for t in items]


def test_old_bundle_with_padding_state_is_neutralised(english, tmp_path):
    """A bundle written before the export stripped padding: the runtime must ignore the stored setting."""
    import shutil

    from albert_edge_runtime.bundle import file_sha256

    old = tmp_path / "old"
    shutil.copytree(english[2], old)
    tokenizer = json.loads((old / "tokenizer.json").read_text())
    tokenizer["padding"] = json.loads((english[0] / "tokenizer.json").read_text())["padding"]
    (old / "tokenizer.json").write_text(json.dumps(tokenizer))
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["files"]["tokenizer.json"]["sha256"] = file_sha256(old / "tokenizer.json")
    manifest["format_version"] = 1
    (old / "manifest.json").write_text(json.dumps(manifest))
    clf = SentimentClassifier.load(old)
    assert clf.predict(["great", LONG])[0].probabilities == pytest.approx(
        clf.predict(["great"])[0].probabilities, abs=1e-5
    )


def test_async_batcher_and_serve_do_not_mix_clients(english):
    from test_serve import call_app

    from albert_edge_runtime import AsyncSentimentClassifier
    from albert_edge_runtime.serve import create_app

    short, alone = "Honestly, a great laptop.", SentimentClassifier.load(english[2])
    expected = alone.predict(["Honestly, a great laptop."])[0].probabilities
    with AsyncSentimentClassifier(SentimentClassifier.load(english[2]), max_wait_ms=50) as batcher:
        futures = [batcher.submit([LONG]), batcher.submit([short]), batcher.submit(["slow " * 30])]
        got = futures[1].result().pop().probabilities
        assert max(abs(got[k] - expected[k]) for k in expected) < 1e-5
        body = json.dumps({"texts": [LONG, short, "bad"]}).encode()
        status, _, answer = call_app(create_app(batcher), "POST", "/v1/sentiment", (body,))
    served = json.loads(answer)["predictions"][1]["probabilities"]
    assert status == 200 and max(abs(served[k] - expected[k]) for k in expected) < 1e-5


@pytest.mark.parametrize("lower, accents", [(False, True), (True, False)])
def test_spiece_only_folder_keeps_its_tokenizer_options(tmp_path, lower, accents):
    folder = spiece_only_albert(tmp_path / "hf", do_lower_case=lower, keep_accents=accents)
    bundle = export(folder, tmp_path / "b", weights="fp32")
    assert_like_transformers(folder, bundle, "single_label_classification", 1e-4)


def test_vocab_txt_folder_keeps_case(tmp_path):
    folder = vocab_txt_albert(tmp_path / "hf", do_lower_case=False)
    bundle = export(folder, tmp_path / "b", weights="fp32")
    clf = assert_like_transformers(folder, bundle, "single_label_classification", 1e-4)
    upper, lower = (clf.encoder.encode_batch([t])[0].input_ids for t in ("Amazing", "amazing"))
    assert upper != lower  # cased: "Amazing" is its own token


@pytest.mark.parametrize(
    "config, problem_type",
    [
        (dict(num_labels=3), "single_label_classification"),
        (dict(num_labels=3, problem_type="multi_label_classification"), "multi_label_classification"),
        (dict(num_labels=1, problem_type="regression"), "regression"),
    ],
)
def test_every_head_answers_like_the_pipeline(tmp_path, config, problem_type):
    folder = english_albert(tmp_path / "hf", steps=10, **config)
    for weights, tolerance in (("fp32", 1e-4), ("int8", INT8_TOLERANCE[problem_type == "regression"])):
        clf = assert_like_transformers(
            folder, export(folder, tmp_path / weights, weights=weights), problem_type, tolerance
        )
    prediction = clf.predict(["great"])[0]
    if problem_type == "multi_label_classification":
        assert prediction.labels == tuple(k for k, p in prediction.probabilities.items() if p >= 0.5)
        assert abs(sum(prediction.probabilities.values()) - 1.0) > 1e-3  # sigmoids, not a softmax
    elif problem_type == "regression":
        assert prediction.probabilities == {} and prediction.score != 1.0


def test_bert_checkpoint_is_refused_by_name(tmp_path):
    import transformers

    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="config.json has model_type 'bert'; albert-edge only handles 'albert'"):
        export(tmp_path / "bert", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_token_classification_head_is_refused(tmp_path):
    import transformers

    from hf_folders import TINY

    transformers.AlbertForTokenClassification(transformers.AlbertConfig(**TINY)).save_pretrained(tmp_path / "tok")
    with pytest.raises(ValueError, match="architectures is \\['AlbertForTokenClassification'\\]; albert-edge exports"):
        export(tmp_path / "tok", tmp_path / "b")


def test_guard_refuses_a_tokenizer_unlike_transformers(english, tmp_path, monkeypatch):
    """The guard compares raw text: a bundle tokenizer that lowercases where the checkpoint's does not is caught."""
    from tokenizers import normalizers

    import albert_edge_export.pipeline as pipeline

    real = pipeline.load_tokenizer

    def lowercasing(folder):
        tokenizer = real(folder)
        tokenizer.normalizer = normalizers.Sequence([tokenizer.normalizer, normalizers.Lowercase()])
        return tokenizer

    folder = spiece_only_albert(tmp_path / "hf", do_lower_case=False, keep_accents=True)
    monkeypatch.setattr(pipeline, "load_tokenizer", lowercasing)
    with pytest.raises(EndToEndError, match="the bundle's tokenizer differs from transformers' on .* texts; first"):
        export(folder, tmp_path / "b", weights="fp32")
    assert not (tmp_path / "b").exists() and [p.name for p in tmp_path.iterdir()] == ["hf"]


def test_guard_refuses_padding_that_reaches_attention(english, tmp_path, monkeypatch):
    import albert_edge_export.reference as reference
    from albert_edge_runtime.session import feeds_for

    def unmasked(rows, names, pad_id):
        feeds = feeds_for(rows, names, pad_id)
        feeds["attention_mask"][:] = 1
        return feeds

    # fp32 with masked padding moves a text by float noise only: a tolerance far above that and far below
    # what any trained model's leak causes keeps the test independent of how this machine's tiny training went
    tight = 1e-3
    e2e = json.loads((english[2] / "manifest.json").read_text())["metrics"]["end_to_end"]
    assert e2e["max_padding_effect"] < tight
    monkeypatch.setattr(reference, "feeds_for", unmasked)
    with pytest.raises(
        EndToEndError, match=r"in padded batches \(as optimum or onnxruntime run model.onnx\) a text's output"
    ):
        export(english[0], tmp_path / "b", weights="fp32", batch_tolerance=tight)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("which", ["english int8", "default"])
def test_other_tools_open_the_bundle(english, which):
    """optimum's ORTModelForSequenceClassification and transformers' pipeline load the bundle folder as it is."""
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    from albert_edge_runtime.classifier import default_bundle_path

    bundle = english[1] if which == "english int8" else default_bundle_path()
    model = ORTModelForSequenceClassification.from_pretrained(str(bundle))
    pipe = pipeline(
        "text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(str(bundle)), top_k=None
    )
    items = texts() if which == "english int8" else ["这个产品很好", "质量太差了，再也不买了", "物流很快 but 包装一般"]
    clf, alone, _ = runtime_outputs(bundle, items)
    answers = pipe(items, truncation=True, max_length=64)
    theirs = np.array([[next(a["score"] for a in row if a["label"] == name) for name in clf.labels] for row in answers])
    assert np.abs(theirs - alone).max() <= 2e-3


def test_the_same_export_twice_gives_the_same_decision_and_bytes(english, tmp_path):
    """Separate processes: the random texts came from `get_vocab()`, whose order changes from process to process,
    so one run exported and the next refused the same checkpoint."""
    import subprocess
    import sys

    def export_cli(out):
        command = [sys.executable, "-m", "albert_edge_export", "export", str(english[0]), "--out", str(out)]
        return subprocess.run([*command, "--verify-data", "random"], capture_output=True, text=True)

    first, second = export_cli(tmp_path / "a"), export_cli(tmp_path / "b")
    assert first.returncode == second.returncode
    if first.returncode != 0:
        assert first.stderr.splitlines()[-1] == second.stderr.splitlines()[-1]
        return
    for name in ("model.onnx", "model.onnx.data", "tokenizer.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    metrics = [json.loads((tmp_path / d / "manifest.json").read_text())["metrics"] for d in "ab"]
    assert metrics[0] == metrics[1]


def test_a_long_text_through_optimum_is_cut_where_the_runtime_cuts_it(english):
    """The bundle's tokenizer_config.json carries its max_length: transformers' `truncation=True` with no
    max_length cut at 1e30 before and the graph failed past its 64 positions."""
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(str(english[1]))
    assert tokenizer.model_max_length == json.loads((english[1] / "manifest.json").read_text())["max_length"]
    model = ORTModelForSequenceClassification.from_pretrained(str(english[1]))
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None)
    clf, alone, _ = runtime_outputs(english[1], [LONG])
    (answer,) = pipe([LONG], truncation=True)
    theirs = np.array([[next(a["score"] for a in answer if a["label"] == name) for name in clf.labels]])
    assert np.abs(theirs - alone).max() <= 2e-3
