"""onnxruntime sessions with explicit memory/thread options, and inference one text per run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .machine import onnxruntime_missing

try:
    import onnxruntime as ort
except ImportError as exc:  # a platform without wheels (32-bit ARM): one line that says what to do
    raise ImportError(onnxruntime_missing(exc)) from exc

from .encoding import Encoded  # noqa: E402 - after the onnxruntime check above
from .machine import usable_cores  # noqa: E402

OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class RuntimeOptions:
    """Defaults chosen for a small, predictable process (numbers in docs/runtime.md).

    threads: intra-op threads of one run (1 = one core, steadiest latency on a Pi; 0 = every usable core). Never
        more than the cores this process may use (affinity, cgroup quota: `machine.usable_cores`). A short text
        gains little from more: for throughput on lists, raise `parallel` instead.
    parallel: texts of one list run at once, each its own single run (onnxruntime releases the GIL inside it), so
        a list uses this many cores and every answer stays bit-identical to the text's alone.
    arena: onnxruntime's CPU memory arena. On is smaller and faster: it reuses blocks where glibc's heap
        fragments (docs/runtime.md).
    memory_pattern: pre-plans buffers per input shape; pays off only for repeated identical shapes.
    prepacking: re-lays weights for faster GEMMs at the cost of a second copy of them in memory.
    optimization: graph optimisation level applied at load (disable, basic, extended, all); None: the bundle's
        (none when the export already optimised it).
    exact_int8: load the bundle's exact-INT8 graph (its GEMMs on onnxruntime's exact u8 x u8 kernel), which
        gives the answers of VNNI and ARM machines on an x86 CPU without VNNI, where the default kernel saturates
        (answers move by ~1e-3) but is faster. None: exactly where this CPU needs it (`machine.int8_saturates`).
    """

    threads: int = 1
    arena: bool = True
    memory_pattern: bool = False
    prepacking: bool = True
    optimization: str | None = None
    parallel: int = 1
    exact_int8: bool | None = None

    def __post_init__(self) -> None:
        if not (self.exact_int8 is None or isinstance(self.exact_int8, bool)):
            raise ValueError(f"exact_int8 must be True, False or None (where the CPU needs it): {self.exact_int8!r}")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0 = all cores), got {self.threads!r}")
        if not isinstance(self.parallel, int) or self.parallel < 1:
            raise ValueError(f"parallel must be an integer >= 1 (texts run at once), got {self.parallel!r}")
        if self.optimization is not None and self.optimization not in OPT_LEVELS:
            raise ValueError(f"unknown optimization {self.optimization!r}; expected one of {', '.join(OPT_LEVELS)}")


def intra_op_threads(requested: int) -> int:
    """The explicit thread count onnxruntime gets: 0 means every usable core, and no request goes past them.
    Left to itself onnxruntime counts the host's cores and pins threads to them, which a container's cpuset or
    quota refuses (pinning errors) or starves."""
    usable = usable_cores()
    return usable if requested == 0 else min(requested, usable)


def make_session(model: bytes | str, options: RuntimeOptions) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = intra_op_threads(options.threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_cpu_mem_arena = options.arena
    so.enable_mem_pattern = options.memory_pattern
    so.graph_optimization_level = OPT_LEVELS[options.optimization or "all"]
    if not options.prepacking:
        so.add_session_config_entry("session.disable_prepacking", "1")
    if so.intra_op_num_threads == 1:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait burning a core
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def feeds_for(rows: Sequence[Encoded], input_names: Sequence[str], pad_id: int) -> dict[str, np.ndarray]:
    """Padded feeds for several texts: what other tools run, so the export checks that padding stays masked (the
    runtime itself never pads)."""
    T = max(len(r.input_ids) for r in rows)
    ids = np.full((len(rows), T), pad_id, dtype=np.int64)
    types = np.zeros((len(rows), T), dtype=np.int64)
    mask = np.zeros((len(rows), T), dtype=np.int64)
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n], types[i, :n], mask[i, :n] = r.input_ids, r.token_type_ids, 1
    available = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: available[name] for name in input_names}


def run_one(session: ort.InferenceSession, encoded: Encoded, input_names: Sequence[str], output: str) -> np.ndarray:
    """Logits (1, outputs) of one text at its real length: no padding and no neighbours, so nothing but the text
    reaches the activation scales of a dynamic-INT8 graph or the float sums of any graph."""
    n = len(encoded.input_ids)
    available = {
        "input_ids": np.array([encoded.input_ids], dtype=np.int64),
        "attention_mask": np.ones((1, n), dtype=np.int64),
        "token_type_ids": np.array([encoded.token_type_ids], dtype=np.int64),
    }
    return session.run([output], {name: available[name] for name in input_names})[0]


def logits_alone(session: ort.InferenceSession, encoded: Sequence[Encoded]) -> np.ndarray:
    """(N, outputs) logits, each text run alone as `SentimentClassifier.iter_predict` runs it; the export's
    verify step uses it, so a bundle's measured results are the runtime's own."""
    if not encoded:
        raise ValueError("nothing to classify: the input list is empty")
    names, output = [i.name for i in session.get_inputs()], session.get_outputs()[0].name
    return np.concatenate([run_one(session, e, names, output) for e in encoded])


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # no overflow warning for large negative logits


def apply_head(logits: np.ndarray, problem_type: str) -> np.ndarray:
    """What transformers' text-classification pipeline applies for each problem type: softmax over labels,
    a sigmoid per label, or the raw value."""
    if problem_type == "multi_label_classification":
        return sigmoid(logits)
    if problem_type == "regression":
        return logits
    return softmax(logits)
