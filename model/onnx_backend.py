"""ONNX Runtime path: the two-head network exported to ONNX, and dynamically quantised to int8.

`export_onnx` writes `onnx/model.onnx` (fp32) and `onnx/model.int8.onnx` (int8 weights,
dynamic quantisation of the linear layers) into a model folder; `stanceframe train` calls
it before registering the model. `OnnxNetwork` runs either file with the same call
signature as the torch network, so the predictor's batching, truncation and calibration
code is shared by every backend.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FILES = {"onnx-fp32": "model.onnx", "onnx-int8": "model.int8.onnx"}
INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAMES = ["stance_logits", "frame_logits"]


class MissingOnnxError(FileNotFoundError):
    """The model folder has no exported ONNX file for the requested backend."""


def export_onnx(model_dir: str | Path) -> dict[str, Path]:
    """Export the saved model in `model_dir` to ONNX (fp32) and quantise it to int8."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer

    from model.network import StanceFrameModel

    model_dir = Path(model_dir)
    network = StanceFrameModel.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    class TwoHeads(torch.nn.Module):
        """Plain tuple outputs, which the exporter maps to named graph outputs."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            output = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            return output.stance_logits, output.frame_logits

    sample = tokenizer(["A sample sentence for tracing.", "Short."], return_tensors="pt", padding=True)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    folder = model_dir / ONNX_DIR
    folder.mkdir(exist_ok=True)
    paths = {backend: folder / name for backend, name in ONNX_FILES.items()}
    # The torch.export-based exporter: the legacy tracer baked the attention-mask shapes
    # of the sample into the graph (logits off by up to 0.6 on other lengths).
    program = torch.onnx.export(
        TwoHeads(network).eval(),
        (sample["input_ids"], sample["attention_mask"]),
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        dynamic_shapes={"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}},
        dynamo=True,
        verbose=False,
    )
    program.save(str(paths["onnx-fp32"]))
    quantize_dynamic(str(paths["onnx-fp32"]), str(paths["onnx-int8"]), weight_type=QuantType.QInt8)
    logger.info("Exported %s", ", ".join(str(p) for p in paths.values()))
    return paths


class OnnxNetwork:
    """An ONNX Runtime session that answers like `StanceFrameModel` (torch tensors in and out)."""

    def __init__(self, path: str | Path, config, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.config = config
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def eval(self) -> OnnxNetwork:
        return self

    def __call__(self, input_ids, attention_mask):
        import torch

        from model.network import StanceFrameOutput

        stance, frame = self.session.run(
            OUTPUT_NAMES, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        )
        return StanceFrameOutput(stance_logits=torch.from_numpy(stance), frame_logits=torch.from_numpy(frame))

    @classmethod
    def load(cls, model_dir: str | Path, backend: str, config, threads: int | None = None) -> OnnxNetwork:
        path = Path(model_dir) / ONNX_DIR / ONNX_FILES[backend]
        if not path.is_file():
            raise MissingOnnxError(
                f"{path} does not exist: the model at {model_dir} was saved without its ONNX export. "
                f"Retrain with `stanceframe train` (it exports), or use --backend torch."
            )
        return cls(path, config, threads)
