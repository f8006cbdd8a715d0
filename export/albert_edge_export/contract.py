"""The ONNX contract, defined once: every exporter, checker and the runtime's feeds agree on these."""

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"
DYNAMIC_AXES = {**{name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}, OUTPUT_NAME: {0: "batch"}}
OPSET = 17  # first opset with LayerNormalization; onnxruntime >= 1.14 and its mobile builds run it
FP32_TOLERANCE = 1e-4  # max abs logit difference allowed between PyTorch and the fp32 ONNX graph
# int4: 4-bit blocks (half INT8's bytes); fp32: the optimised graph unquantised, for exact parity and big devices
WEIGHTS = ("int8", "int4", "fp32")
# A text's output may move this much with its batch neighbours: dynamic INT8 picks activation scales per batch.
BATCH_TOLERANCE = 0.05
# 4-bit blocks (`python -m bench.int4` measures the choices). INT4_AUTO_BLOCK picks per model: 128 weights per
# scale along K when every K (embedding, hidden, feed-forward width) is a multiple of 128, so no block is padded and
# scales cost half of 64's; else 64, which fits widths like 312 with little padding. An embedding row of 128 takes
# one scale; symmetric blocks need no zero points.
INT4_AUTO_BLOCK = 0
# `--int4-block-size arm`: onnxruntime's KleidiAI kernels (aarch64 with dot product) run a MatMulNBits on int8 only
# where its block length is a multiple of 32 and divides K (mlas sqnbitgemm); this picks the block of
# INT4_ARM_BLOCK_SIZES under which most weights qualify, the larger on a tie (fewer scales).
INT4_ARM_BLOCK = -1
INT4_ARM_BLOCK_SIZES = (32, 64, 128)
INT4_BLOCK_SIZES = (64, 128)
INT4_EMBEDDING_BLOCK_SIZE = 128
INT4_SYMMETRIC = True
INT4_ACCURACY_LEVEL = 4  # MatMulNBits computes on int8 activations, quantized per block at run time
INT4_OPSET, INT4_IR_VERSION = 21, 10  # the first with 4-bit tensors (GatherBlockQuantized: onnxruntime#21630)
