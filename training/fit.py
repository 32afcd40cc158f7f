"""Fine-tuning: the pretrained encoder with two fresh heads, trained on labeled sentences.

Deterministic: one seed per fit, set once before the heads are initialised, and
deterministic torch kernels. `fit` trains one network; `fit_averaged` trains several with
consecutive seeds and averages their weights (a uniform "model soup": one network at
inference time, the variance of several).
"""

from __future__ import annotations

import logging
import math
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.encoding import Encoded, encode, pad_batch
from model.labels import FRAME_LABELS, STANCE_LABELS
from training.config import TrainConfig, project_path
from training.data import LabeledSentence, labels_of

logger = logging.getLogger(__name__)

# Batches are drawn from pools of this many batches sorted by length (less padding).
BUCKET_BATCHES = 8


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def base_model_dir(config: TrainConfig) -> Path:
    if config.base_model:
        return project_path(config.base_model)
    from model.network import base_model_path

    return base_model_path()


def load_tokenizer(config: TrainConfig):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_dir(config))


def new_network(config: TrainConfig, seed: int):
    """The pretrained encoder with freshly initialised heads (initialisation seeded)."""
    from model.config import StanceFrameConfig
    from model.network import StanceFrameModel

    seed_everything(seed)
    base = base_model_dir(config)
    network_config = StanceFrameConfig.from_pretrained(
        base,
        stance_labels=list(STANCE_LABELS),
        frame_labels=list(FRAME_LABELS),
        max_seq_length=config.max_length,
        context_mode=config.context_mode,
        context_max_tokens=config.context_max_tokens if config.context_mode != "none" else 0,
    )
    return StanceFrameModel.from_pretrained(base, config=network_config)


def frozen_layers(network, config: TrainConfig) -> int:
    """How many bottom encoder layers stay fixed."""
    return max(0, len(network.bert.encoder.layer) - config.trainable_layers)


def freeze(network, config: TrainConfig) -> None:
    """Fine-tune only the top `trainable_layers` encoder layers (and the embeddings when all are)."""
    layers = network.bert.encoder.layer
    frozen = frozen_layers(network, config)
    for parameter in network.bert.embeddings.parameters():
        parameter.requires_grad_(frozen == 0)
    if config.freeze_word_embeddings:
        network.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    for index, layer in enumerate(layers):
        for parameter in layer.parameters():
            parameter.requires_grad_(index >= frozen)


def class_weights(labels: np.ndarray, n_classes: int):
    """sklearn's 'balanced' weights; a class absent from the data gets weight 1."""
    import torch

    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 1.0)
    return torch.tensor(weights, dtype=torch.float32)


def bucketed_batches(lengths: Sequence[int], batch_size: int, generator: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length: less padding, the same data each epoch.

    The rows are shuffled, cut into pools of BUCKET_BATCHES batches, sorted by length
    within each pool and batched; then the batch order is shuffled.
    """
    order = generator.permutation(len(lengths))
    pool_size = batch_size * BUCKET_BATCHES
    batches = []
    for begin in range(0, len(order), pool_size):
        pool = sorted(order[begin : begin + pool_size], key=lambda i: lengths[i])
        batches += [np.array(pool[i : i + batch_size]) for i in range(0, len(pool), batch_size)]
    return [batches[i] for i in generator.permutation(len(batches))]


def optimizer_for(network, config: TrainConfig):
    """AdamW with the heads' own learning rate and no decay on biases and LayerNorm weights."""
    import torch

    head_names = ("stance_head.", "frame_head.")
    no_decay = ("bias", "LayerNorm.weight")
    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in network.named_parameters():
        if parameter.requires_grad:
            key = (name.startswith(head_names), not any(marker in name for marker in no_decay))
            groups.setdefault(key, []).append(parameter)
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": config.head_learning_rate if is_head else config.learning_rate,
                "weight_decay": config.weight_decay if decays else 0.0,
            }
            for (is_head, decays), params in sorted(groups.items())
        ]
    )


def training_inputs(
    sentences: Sequence[LabeledSentence], contexts: Sequence[str] | None, tokenizer, config: TrainConfig
) -> tuple[Encoded, Encoded | None]:
    """The encoded sentences with their context, and without it when context dropout needs both."""
    texts = [s.text for s in sentences]
    with_context = encode(tokenizer, texts, contexts, config.max_length, config.context_max_tokens)
    if contexts is None or not config.context_dropout:
        return with_context, None
    return with_context, encode(tokenizer, texts, None, config.max_length, 0)


class TrainingBatches:
    """Padded training batches, each row with or without its context (context dropout).

    When the bottom encoder layers are frozen, their output never changes: it is computed
    once per row and variant (`cache_frozen`), and each step runs only the trained layers.
    """

    def __init__(self, with_context: Encoded, without_context: Encoded | None, context_dropout: float, pad_id: int):
        self.variants = [with_context] if without_context is None else [with_context, without_context]
        self.context_dropout = context_dropout
        self.pad_id = pad_id
        self.frozen_layers = 0
        self.cached: list[list] | None = None

    def lengths(self) -> list[int]:
        return self.variants[0].lengths()

    def cache_frozen(self, network, layers: int, batch_size: int = 64) -> None:
        import torch

        self.frozen_layers = layers
        self.cached = []
        with torch.no_grad():
            for encoded in self.variants:
                hidden_rows = [None] * len(encoded)
                order = np.argsort(encoded.lengths(), kind="stable")
                for begin in range(0, len(order), batch_size):
                    rows = order[begin : begin + batch_size]
                    batch = {k: torch.from_numpy(v) for k, v in pad_batch(encoded, rows, self.pad_id).items()}
                    hidden = network.hidden_after(layers, **batch)
                    for i, row in enumerate(rows):
                        hidden_rows[row] = hidden[i, : len(encoded.input_ids[row])].clone()
                self.cached.append(hidden_rows)

    def batch(self, rows: np.ndarray, generator: np.random.Generator) -> dict:
        """Network inputs for `rows`: token arrays, plus the frozen layers' output when cached."""
        import torch

        if len(self.variants) == 1:
            chosen = [0] * len(rows)
        else:
            chosen = (generator.random(len(rows)) < self.context_dropout).astype(int).tolist()
        mixed = Encoded(
            input_ids=[self.variants[v].input_ids[row] for v, row in zip(chosen, rows)],
            token_type_ids=[self.variants[v].token_type_ids[row] for v, row in zip(chosen, rows)],
            truncated=self.variants[0].truncated[rows],
        )
        inputs = {k: torch.from_numpy(v) for k, v in pad_batch(mixed, range(len(rows)), self.pad_id).items()}
        if self.cached is not None:
            inputs["hidden"] = torch.nn.utils.rnn.pad_sequence(
                [self.cached[v][row] for v, row in zip(chosen, rows)], batch_first=True
            )
        return inputs


def pooled_batch(network, frozen: int, inputs: dict):
    """The pooled representation of a batch: from the cached frozen layers' output when there is one."""
    if frozen:
        return network.pooled_from(frozen, inputs["hidden"], inputs["attention_mask"], inputs["token_type_ids"])
    return network.pooled(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])


def contrastive_stage(
    network, batches: TrainingBatches, labels: np.ndarray, frozen: int, config: TrainConfig,
    generator: np.random.Generator, description: str,
) -> None:
    """SetFit's first stage (Tunstall et al., 2022), on the stance labels, before the heads are trained.

    Pairs of sentences with the same stance are pulled together and pairs with different
    stances pushed apart: the cosine similarity of their pooled representations is
    regressed to 1 or 0. Each sampled anchor gives one pair of each kind.
    """
    import torch
    import torch.nn.functional as F
    from transformers import get_linear_schedule_with_warmup

    encoder = [p for n, p in network.named_parameters() if p.requires_grad and not n.startswith(("stance_head.", "frame_head."))]
    optimizer = torch.optim.AdamW(encoder, lr=config.learning_rate, weight_decay=config.weight_decay)
    rows_of = {label: np.flatnonzero(labels == label) for label in np.unique(labels)}
    if len(rows_of) < 2:
        return
    pairs = []
    for anchor in generator.choice(len(labels), size=max(1, config.contrastive_pairs // 2)):
        same, other = rows_of[labels[anchor]], np.flatnonzero(labels != labels[anchor])
        pairs += [(anchor, generator.choice(same), 1.0), (anchor, generator.choice(other), 0.0)]
    pairs = [pairs[i] for i in generator.permutation(len(pairs))]
    steps = math.ceil(len(pairs) / config.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * steps), steps)
    network.train()
    losses = []
    for begin in range(0, len(pairs), config.batch_size):
        chunk = pairs[begin : begin + config.batch_size]
        left = pooled_batch(network, frozen, batches.batch(np.array([a for a, _, _ in chunk]), generator))
        right = pooled_batch(network, frozen, batches.batch(np.array([b for _, b, _ in chunk]), generator))
        target = torch.tensor([t for _, _, t in chunk], dtype=left.dtype)
        loss = F.mse_loss(F.cosine_similarity(left, right), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    logger.info("%s: contrastive stage, %d pairs, mean loss %.3f", description, len(pairs), float(np.mean(losses)))


def fit(
    sentences: Sequence[LabeledSentence],
    contexts: Sequence[str] | None,
    tokenizer,
    config: TrainConfig,
    description: str,
    seed: int,
):
    """Fine-tune a new network on `sentences` (with `contexts`) and return it in eval mode."""
    import torch
    from torch import nn
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    network = new_network(config, seed)
    freeze(network, config)
    batches = TrainingBatches(*training_inputs(sentences, contexts, tokenizer, config), config.context_dropout,
                              tokenizer.pad_token_id)
    frozen = frozen_layers(network, config)
    if frozen:
        batches.cache_frozen(network.eval(), frozen)
    stance, frame = labels_of(sentences, "stance"), labels_of(sentences, "frame")
    generator = np.random.default_rng(seed)
    if config.contrastive_pairs:
        contrastive_stage(network, batches, stance, frozen, config, generator, description)
    losses = {
        head: nn.CrossEntropyLoss(
            weight=class_weights(labels, n_classes) if config.class_balanced else None,
            label_smoothing=config.label_smoothing,
        )
        for head, labels, n_classes in (("stance", stance, len(STANCE_LABELS)), ("frame", frame, len(FRAME_LABELS)))
    }
    optimizer = optimizer_for(network, config)
    total_steps = math.ceil(len(sentences) / config.batch_size) * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    network.train()
    step = epoch = 0
    with tqdm(total=total_steps, desc=description, unit="step", disable=None, file=sys.stderr) as progress:
        while step < total_steps:
            epoch += 1
            epoch_losses = []
            for rows in bucketed_batches(batches.lengths(), config.batch_size, generator):
                output = network.heads(pooled_batch(network, frozen, batches.batch(rows, generator)))
                loss = config.stance_loss_weight * losses["stance"](
                    output.stance_logits, torch.from_numpy(stance[rows])
                ) + config.frame_loss_weight * losses["frame"](output.frame_logits, torch.from_numpy(frame[rows]))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                progress.update(1)
                progress.set_postfix(loss=f"{loss.item():.3f}")
                epoch_losses.append(loss.item())
                if step >= total_steps:
                    break
            # The bar is hidden when stderr is not a terminal; the log still shows progress.
            logger.info(
                "%s: epoch %d, step %d/%d, mean loss %.3f", description, epoch, step, total_steps, float(np.mean(epoch_losses))
            )
    return network.eval()


def fit_averaged(
    sentences: Sequence[LabeledSentence], contexts: Sequence[str] | None, tokenizer, config: TrainConfig, description: str
):
    """`fit` with seeds seed .. seed+average_seeds-1, weights averaged into the first network."""
    import torch

    networks = (
        fit(sentences, contexts, tokenizer, config, f"{description} (seed {config.seed + k})", config.seed + k)
        for k in range(config.average_seeds)
    )
    averaged = next(networks)
    if config.average_seeds == 1:
        return averaged
    state = {name: value.clone() for name, value in averaged.state_dict().items()}
    for network in networks:
        for name, value in network.state_dict().items():
            if value.is_floating_point():
                state[name] += value
    with torch.no_grad():
        averaged.load_state_dict(
            {name: value / config.average_seeds if value.is_floating_point() else value for name, value in state.items()}
        )
    return averaged
