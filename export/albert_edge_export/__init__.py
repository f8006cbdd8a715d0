"""albert-edge export stage: PyTorch/HF ALBERT -> fp32 ONNX -> shared-weight INT8 -> verified device bundle."""
