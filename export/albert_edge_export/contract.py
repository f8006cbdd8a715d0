"""The ONNX contract, defined once: every exporter, checker and the runtime's feeds agree on these."""

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"
DYNAMIC_AXES = {**{name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}, OUTPUT_NAME: {0: "batch"}}
OPSET = 17  # first opset with LayerNormalization; onnxruntime >= 1.14 and its mobile builds run it
FP32_TOLERANCE = 1e-4  # max abs logit difference allowed between PyTorch and the fp32 ONNX graph
WEIGHTS = ("int8", "fp32")  # fp32: the optimised graph unquantised, for exact parity checks and big devices
# A text's output may move this much with its batch neighbours: dynamic INT8 picks activation scales per batch.
BATCH_TOLERANCE = 0.05
