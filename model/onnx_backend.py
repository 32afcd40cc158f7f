"""ONNX Runtime path: the two-head network exported to ONNX, and dynamically quantised to int8.

`export_onnx` writes `onnx/model.onnx` (fp32) and `onnx/model.int8.onnx` (int8 weights,
dynamic per-channel quantisation of the linear layers) into a model folder; `stanceframe train` calls
it before registering the model. `OnnxNetwork` runs either file with the same call
signature as the torch network, so the predictor's batching, truncation and calibration
code is shared by every backend. Besides the two heads' logits the graph outputs the pooled
sentence representation (`pooled`), which nearest-neighbour explanations compare; files
exported before that output existed still predict, and say they cannot embed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FILES = {"onnx-fp32": "model.onnx", "onnx-int8": "model.int8.onnx"}
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
LOGIT_NAMES = ["stance_logits", "frame_logits"]
POOLED_NAME = "pooled"
OUTPUT_NAMES = [*LOGIT_NAMES, POOLED_NAME]
# Written by training (`training/int8_check.py`): did int8 keep the fp32 labels?
INT8_CHECK_FILE = "int8_check.json"


class MissingOnnxError(FileNotFoundError):
    """The model folder has no exported ONNX file for the requested backend."""


def export_onnx(model_dir: str | Path) -> dict[str, Path]:
    """Export the saved model in `model_dir` to ONNX (fp32) and quantise it to int8.

    The export is checked against the torch network on a batch whose shape differs from
    the tracing sample; a mismatch fails the export instead of shipping a wrong file.
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer

    from model.network import StanceFrameModel

    model_dir = Path(model_dir)
    # Eager attention traces to plain MatMul/Softmax nodes that ONNX Runtime fuses well.
    network = StanceFrameModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    class TwoHeads(torch.nn.Module):
        """Plain tuple outputs (logits, and the pooled representation), which the exporter maps to named graph outputs."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            pooled = self.inner.pooled(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            output = self.inner.heads(pooled)
            return output.stance_logits, output.frame_logits, pooled

    sample = tokenizer(
        ["A sample sentence for tracing.", "Short."], ["Its context.", ""], return_tensors="pt", padding=True
    )
    folder = model_dir / ONNX_DIR
    folder.mkdir(exist_ok=True)
    paths = {backend: folder / name for backend, name in ONNX_FILES.items()}
    # The TorchScript exporter (deprecated since torch 2.9, still in 2.13): on this model
    # its graph runs ~25% faster in ONNX Runtime than the torch.export one (README,
    # "Performance"). `check_export` guards it against shapes baked in by tracing.
    torch.onnx.export(
        # eval() on the wrapper: the exporter restores the wrapper's mode afterwards, and a
        # wrapper in training mode would switch dropout on in `network` (check_export saw it).
        TwoHeads(network).eval(),
        tuple(sample[name] for name in INPUT_NAMES),
        str(paths["onnx-fp32"]),
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        dynamic_axes={name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
        | {name: {0: "batch"} for name in OUTPUT_NAMES},
        opset_version=17,
        dynamo=False,
    )
    check_export(paths["onnx-fp32"], network, tokenizer)
    # Per-channel scales: with one scale per tensor, int8 changed 2.9% of the frame labels
    # of the seed corpus for an earlier model, against none per channel.
    quantize_dynamic(str(paths["onnx-fp32"]), str(paths["onnx-int8"]), weight_type=QuantType.QInt8, per_channel=True)
    logger.info("Exported %s", ", ".join(str(p) for p in paths.values()))
    return paths


def check_export(path: Path, network, tokenizer, tolerance: float = 1e-3) -> None:
    """Fail unless the ONNX file at `path` gives the torch network's logits and pooled output on a fresh batch shape."""
    import onnxruntime
    import torch

    probe = tokenizer(
        ["One.", "A longer sentence than the tracing sample, so that the padding differs.", "Two words"],
        ["", "Some context of another length.", "More"],
        return_tensors="pt", padding=True,
    )
    with torch.inference_mode():
        pooled = network.pooled(**{name: probe[name] for name in INPUT_NAMES})
        expected = network.heads(pooled)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    found = session.run(OUTPUT_NAMES, {name: probe[name].numpy() for name in INPUT_NAMES})
    gap = max(
        float(np.abs(found[0] - expected.stance_logits.numpy()).max()),
        float(np.abs(found[1] - expected.frame_logits.numpy()).max()),
        float(np.abs(found[2] - pooled.numpy()).max()),
    )
    if gap > tolerance:
        raise RuntimeError(f"The ONNX export of {path.parent.parent} differs from torch by {gap:.4g} (> {tolerance}).")


def int8_check_passed(model_dir: str | Path) -> bool:
    """True when the model's int8 export passed the accuracy check that makes it the default."""
    path = Path(model_dir) / ONNX_DIR / INT8_CHECK_FILE
    return path.is_file() and json.loads(path.read_text()).get("passed") is True


class OnnxNetwork:
    """An ONNX Runtime session called like `TorchNetwork`: numpy arrays in, numpy logits out."""

    def __init__(self, path: str | Path, config, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.config = config
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # False for files exported before the pooled output was added: they predict but cannot embed.
        self.has_pooled = POOLED_NAME in {output.name for output in self.session.get_outputs()}

    def __call__(self, input_ids, attention_mask, token_type_ids) -> tuple[np.ndarray, np.ndarray]:
        stance, frame = self.session.run(
            LOGIT_NAMES, {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        )
        return stance, frame

    def with_pooled(self, input_ids, attention_mask, token_type_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Both heads' logits and the pooled sentence representation, in one run of the graph (needs `has_pooled`)."""
        stance, frame, pooled = self.session.run(
            OUTPUT_NAMES, {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        )
        return stance, frame, pooled

    @classmethod
    def load(cls, model_dir: str | Path, backend: str, config, threads: int | None = None) -> OnnxNetwork:
        path = Path(model_dir) / ONNX_DIR / ONNX_FILES[backend]
        if not path.is_file():
            raise MissingOnnxError(
                f"{path} does not exist: the model at {model_dir} was saved without its ONNX export. "
                f"Retrain with `stanceframe train` (it exports), or use --backend torch."
            )
        return cls(path, config, threads)
