"""Logits of a bundle on a text file with only albert_edge_runtime installed, and the ARM parity contract
(used by scripts/arm-check.sh on both sides: the x86 host and the emulated aarch64 root).

usage: device_logits.py dump TEXTS.txt OUT.npy [BUNDLE] [--exact-int8]
       device_logits.py contract X86.npy DEVICE.npy KIND REPORT.json CPU BUNDLE_NAME [--damage DELTA]
       device_logits.py kernels QEMU_IN_ASM.log [REPORT.json CPU]   (dot-product instructions qemu translated)

The contract (KIND: fp32, int8, int4) is `albert_edge_runtime.parity`: labels equal and bounds on the logits.
`--damage` moves the first x86 logit by DELTA before comparing: the way to prove the check fails.

`--exact-int8` (the x86 side, INT8 bundles): on x86 CPUs without VNNI, onnxruntime's u8 x s8 GEMM kernel sums pairs
of products with a saturating 16-bit instruction (vpmaddubsw), so its INT8 results are not exact, while ARM's NEON
and UDOT kernels are. The x86 reference therefore runs the bundle's exact-INT8 graph (export step exact.py: each
int8 weight as uint8 + 128 through the u8 x u8 kernel, which widens before multiplying), as the runtime itself does
on such CPUs; on a VNNI host both graphs give the same answers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from albert_edge_runtime.parity import contract


def dump(texts_path: str, out_path: str, bundle: str | None, exact_int8: bool = False) -> None:
    from albert_edge_runtime import SentimentClassifier
    from albert_edge_runtime.session import logits_alone

    # The x86 side asks for the exact graph where the bundle has one (INT8); elsewhere the CPU decides, and ARM's
    # kernels are exact anyway.
    clf = SentimentClassifier.load(bundle, exact_int8=True if exact_int8 else None)
    texts = Path(texts_path).read_text(encoding="utf-8").rstrip("\n").split("\n")
    # One text per run, as a device answers one request: dynamic INT8 takes one activation scale per batch, so in
    # a batch a last-bit difference in one row's activations would move every row's quantization.
    np.save(
        out_path,
        np.concatenate([logits_alone(clf.session, [row]) for row in clf.encoder.encode_batch(texts)]),
    )


def record(report_path: str, cpu: str, name: str, figures: dict) -> None:
    path = Path(report_path)
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    report.setdefault(cpu, {})[name] = figures
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


# AArch64 encodings (mask, value) of the int8 dot-product and matrix-multiply instructions. qemu 7.2's
# disassembler does not know them and logs their words as `.byte`, so they are matched by bits.
DOT_INSTRUCTIONS = {
    "sdot (vector)": (0xBFE0FC00, 0x0E809400),
    "udot (vector)": (0xBFE0FC00, 0x2E809400),
    "sdot (by element)": (0xBFC0F400, 0x0F80E000),
    "udot (by element)": (0xBFC0F400, 0x2F80E000),
    "smmla/ummla/usmmla": (0xBFA0FC00, 0x0E80A400),
}


def kernels(log_path: str) -> dict[str, int]:
    """How many translated instructions of each dot-product kind a `QEMU_LOG=in_asm` log holds."""
    import re

    counts = dict.fromkeys(DOT_INSTRUCTIONS, 0)
    for line in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.match(r"0x[0-9a-f]+:\s+([0-9a-f]{8})\s", line)
        if match:
            word = int(match.group(1), 16)
            for name, (mask, value) in DOT_INSTRUCTIONS.items():
                counts[name] += word & mask == value
    return counts


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("dump", "contract", "kernels"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)  # the usage lines
        return 2
    if argv[0] == "kernels":
        counts = kernels(argv[1])
        if len(argv) > 3:
            record(argv[2], argv[3], "int8 dot-product instructions translated", counts)
        print(json.dumps(counts))
        return 0
    if argv[0] == "dump":
        exact = "--exact-int8" in argv
        args = [a for a in argv[1:] if a != "--exact-int8"]
        dump(args[0], args[1], args[2] if len(args) > 2 else None, exact)
        return 0
    reference_path, device_path, kind, report, cpu, name = argv[1:7]
    reference = np.load(reference_path)
    if "--damage" in argv:
        reference = reference.copy()
        reference[0, 0] += float(argv[argv.index("--damage") + 1])
    figures = contract(reference, np.load(device_path), kind)
    record(report, cpu, name, figures)
    print(
        f"{cpu} {name} ({kind}): {figures['labels_equal']}/{figures['texts']} labels equal "
        f"({figures['ties_flipped']} ties within the tolerance flipped), max abs "
        f"{figures['max_abs']:.1e} (allowed {figures['allowed']['max']:.0e}), median {figures['median_abs']:.1e} "
        f"(allowed {figures['allowed']['median']:.0e}), {figures['texts_above_1e-3']} texts above 1e-3: "
        f"{'pass' if figures['passed'] else 'FAIL'}"
    )
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
