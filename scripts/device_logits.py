"""Logits of a bundle on a text file, with only albert_edge_runtime installed (used by scripts/arm-check.sh).

usage: device_logits.py dump TEXTS.txt OUT.npy [BUNDLE]
       device_logits.py compare A.npy B.npy MAX_ABS
       device_logits.py variants DIR TAG      (DIR: texts.txt, tokenizer.json, fp32.onnx, int8.onnx)
       device_logits.py diagnose DIR          (compares the x86-* and the other variants' logits in DIR)
"""

import sys

import numpy as np


def dump(texts_path: str, out_path: str, bundle: str | None) -> None:
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.classifier import predict_logits

    clf = SentimentClassifier.load(bundle)
    texts = open(texts_path, encoding="utf-8").read().split("\n")
    # predict's own deterministic chunks and length buckets on both machines, so each sees identical batches
    # (dynamic INT8 scales depend on the batch); batching keeps the emulated run to minutes.
    logits = predict_logits(clf.session, clf.encoder.encode_batch(texts), clf.pad_id, clf.encoder.max_length)
    np.save(out_path, logits)


def compare(a_path: str, b_path: str, max_abs: float) -> int:
    a, b = np.load(a_path), np.load(b_path)
    diff = float(np.abs(a - b).max())
    same = int((a.argmax(1) == b.argmax(1)).sum())
    print(f"parity: {same}/{len(a)} labels equal, max abs logit difference {diff:.2e} (allowed {max_abs:.0e})")
    return 0 if same == len(a) and diff <= max_abs else 1


VARIANTS = [(model, level) for model in ("fp32", "int8") for level in ("all", "disable")]


def variants(folder: str, tag: str) -> None:
    """Batch-1 logits of the fp32 and int8 models, with and without onnxruntime's graph fusions: tells whether a
    platform difference comes from fp32 kernels, int8 kernels, or fusions."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from albert_edge_runtime.encoding import TextEncoder
    from albert_edge_runtime.session import feeds_for

    encoder = TextEncoder(Tokenizer.from_file(f"{folder}/tokenizer.json"), 128, "head+tail")
    rows = encoder.encode_batch(open(f"{folder}/texts.txt", encoding="utf-8").read().split("\n"))
    levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
    for model, level in VARIANTS:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.graph_optimization_level = levels[level]
        session = ort.InferenceSession(f"{folder}/{model}.onnx", options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        logits = [session.run(["logits"], feeds_for([r], names, 0))[0] for r in rows]
        np.save(f"{folder}/{tag}-{model}-{level}.npy", np.concatenate(logits))


def diagnose(folder: str, tag: str) -> None:
    for model, level in VARIANTS:
        d = np.abs(np.load(f"{folder}/x86-{model}-{level}.npy") - np.load(f"{folder}/{tag}-{model}-{level}.npy"))
        print(f"{tag} vs x86, {model}, fusions {level}: max {d.max():.1e}, median {np.median(d):.1e}, "
              f"texts over 1e-3: {int((d.max(1) > 1e-3).sum())}/{len(d)}")
    for t in ("x86", tag):
        d = np.abs(np.load(f"{folder}/{t}-int8-all.npy") - np.load(f"{folder}/{t}-int8-disable.npy")).max()
        print(f"{t} alone, int8 with vs without fusions: max {d:.1e}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "dump":
        dump(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif command == "variants":
        variants(sys.argv[2], sys.argv[3])
    elif command == "diagnose":
        diagnose(sys.argv[2], sys.argv[3])
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3], float(sys.argv[4])))
