"""The labeled corpus as a Hugging Face dataset, and `stanceframe export-dataset DIR`.

`load_corpus(config)` reads the config's labeled JSONL files (validated row by row by
`training/data.py`) into a `datasets.DatasetDict`: a `train` split (the `data_files` in
order, the first `limit` rows when a limit is set) and a `dev` split (the `dev_files`).
Stance and frame are `ClassLabel` features built from `model/labels.py`; each row carries
its context as the model reads it, its article, its duplicate cluster and its provenance.
`stanceframe train` and `stanceframe evaluate` read their sentences from it.

`stanceframe export-dataset DIR` writes the corpus with `save_to_disk` (load it with
`datasets.load_from_disk(DIR)`), as one Parquet file per split under `DIR/parquet/`, and a
dataset card, `DIR/README.md`, whose YAML header lets `datasets.load_dataset(DIR)` read the
Parquet files with the same features.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from model.labels import FRAME_LABELS, HEADS, STANCE_LABELS
from training.config import DEFAULT_CONFIG, PROJECT_DIR, ConfigError, TrainConfig, project_path
from training.data import DataError, LabeledSentence, contexts_of, duplicate_clusters, load_labeled

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev")
PARQUET_DIR = "parquet"
CARD_FILE = "README.md"
DATA_CARD = PROJECT_DIR / "training" / "data" / "README.md"
# Every column, in order, with what it holds: the features are built from this and the card describes it.
COLUMNS: dict[str, str] = {
    "id": "Row id, unique across the corpus (`ARTICLE#N` for article sentences).",
    "text": "The sentence.",
    "context": "The context the model reads with the sentence under the config's context mode (empty when none).",
    "stance": "Stance toward China's peace plan (ClassLabel).",
    "frame": "Primary frame (ClassLabel).",
    "article_id": "The article the sentence was cut from; null for isolated sentences.",
    "start": "Character offset of the sentence in its article (0 for isolated sentences).",
    "group": "Rows sharing a group are never split between folds: their article, contrast pair or writer's group.",
    "cluster_id": "Duplicate cluster within the split: exact and near duplicates and shared groups (training/data.py).",
    "source": "Who wrote or labeled the row: `team-written`, the seed file, or the `--source` of an import.",
    "file": "The labeled JSONL file the row comes from (relative to training/data/ when it is there).",
    "annotator": "The annotator named by the labeling tool's export (imported rows).",
    "imported_at": "When `stanceframe import-labels` added the row (UTC, ISO 8601).",
    "export_file": "The labeling tool's export file the row was imported from.",
}


def corpus_features():
    """The dataset's features: stance and frame as ClassLabels with the label lists of model/labels.py."""
    from datasets import ClassLabel, Features, Value

    types = {"stance": ClassLabel(names=list(STANCE_LABELS)), "frame": ClassLabel(names=list(FRAME_LABELS)),
             "start": Value("int64"), "cluster_id": Value("int64")}
    return Features({name: types.get(name, Value("string")) for name in COLUMNS})


def split_dataset(sentences: list[LabeledSentence], context_mode: str, split: str):
    """One split as a `datasets.Dataset`, rows in the order given."""
    from datasets import Dataset

    contexts = contexts_of(sentences, context_mode) or [""] * len(sentences)
    clusters = duplicate_clusters(sentences) if sentences else np.zeros(0, dtype=np.int64)
    columns = {
        "id": [s.id for s in sentences],
        "text": [s.text for s in sentences],
        "context": contexts,
        "stance": [s.stance for s in sentences],
        "frame": [s.frame for s in sentences],
        "article_id": [s.article for s in sentences],
        "start": [s.start for s in sentences],
        "group": [s.group_hint for s in sentences],
        "cluster_id": clusters.tolist(),
        "source": [s.source for s in sentences],
        "file": [s.file for s in sentences],
        "annotator": [s.annotator for s in sentences],
        "imported_at": [s.imported_at for s in sentences],
        "export_file": [s.export_file for s in sentences],
    }
    features = corpus_features()
    for head in HEADS:
        columns[head] = [features[head].str2int(label) for label in columns[head]]
    return Dataset.from_dict(columns, features=features, split=split)


def check_disjoint(train: list[LabeledSentence], dev: list[LabeledSentence]) -> None:
    """The development set shares no article and no id with the training data."""
    shared_articles = {s.article for s in train if s.article} & {s.article for s in dev if s.article}
    shared_ids = {s.id for s in train} & {s.id for s in dev}
    if shared_articles or shared_ids:
        raise DataError(
            f"The development set shares articles {sorted(shared_articles)[:5]} or ids {sorted(shared_ids)[:5]} "
            f"with the training data; it must be disjoint (check data_files and dev_files)."
        )


def load_corpus(config: TrainConfig):
    """The `train` and `dev` splits of `config` as a `datasets.DatasetDict` (dev empty when there is none)."""
    from datasets import DatasetDict

    train = load_labeled([project_path(p) for p in config.data_files])
    if config.limit:
        train = train[: config.limit]
    dev = load_labeled([project_path(p) for p in config.dev_files]) if config.dev_files else []
    check_disjoint(train, dev)
    return DatasetDict({
        "train": split_dataset(train, config.context_mode, "train"),
        "dev": split_dataset(dev, config.context_mode, "dev"),
    })


def sentences_of(split) -> list[LabeledSentence]:
    """The split's rows as LabeledSentences, in order (what fit, calibration and the baselines take)."""
    features = split.features
    sentences = []
    for row in split:
        sentence = LabeledSentence(
            id=row["id"], text=row["text"], source=row["source"],
            stance=features["stance"].int2str(row["stance"]), frame=features["frame"].int2str(row["frame"]),
            group_hint=row["group"], article=row["article_id"], start=row["start"], file=row["file"],
            annotator=row["annotator"], imported_at=row["imported_at"], export_file=row["export_file"],
        )
        # An isolated sentence's context is its own (an article's is rebuilt from its neighbours).
        sentences.append(sentence if sentence.article else replace(sentence, context=row["context"] or None))
    return sentences


def contexts_in(split, context_mode: str) -> list[str] | None:
    """The split's context column as fit and the predictor take it: None when the model reads no context."""
    return None if context_mode == "none" else list(split["context"])


def clusters_in(split) -> np.ndarray:
    return np.asarray(split["cluster_id"], dtype=np.int64)


def label_counts(split) -> dict[str, dict[str, int]]:
    counts = {}
    for head, labels in HEADS.items():
        ids = np.bincount(np.asarray(split[head], dtype=np.int64), minlength=len(labels))
        counts[head] = {label: int(n) for label, n in zip(labels, ids)}
    return counts


def card_text(corpus, config: TrainConfig) -> str:
    """The dataset card: a YAML header with features, splits and Parquet files, then the description."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    splits = SplitDict()
    for name, split in corpus.items():
        splits.add(SplitInfo(name=name, num_bytes=split.data.nbytes, num_examples=len(split)))
    card_data = DatasetCardData(language=["en"], task_categories=["text-classification"], pretty_name="StanceFrame")
    DatasetInfosDict({"default": DatasetInfo(features=corpus_features(), splits=splits)}).to_dataset_card_data(card_data)
    MetadataConfigs({"default": {"data_files": [
        {"split": name, "path": f"{PARQUET_DIR}/{name}.parquet"} for name in corpus
    ]}}).to_dataset_card_data(card_data)
    lines = [
        "---", str(card_data), "---", "",
        "# StanceFrame labeled sentences",
        "",
        "News sentences about China's peace plan for the war in Ukraine, each labeled with its stance toward the "
        "plan and its primary frame. Exported by `stanceframe export-dataset` from the labeled JSONL files "
        "of the StanceFrame repository (`training/data/`).",
        "",
        f"- `train`: {len(corpus['train'])} sentences from {', '.join(config.data_files)}.",
        f"- `dev`: {len(corpus['dev'])} sentences from {', '.join(config.dev_files) or 'nothing'}: the blind "
        "development set, never trained on.",
        f"- Context mode: `{config.context_mode}` (the `context` column).",
        "",
        "Load it with `datasets.load_from_disk(DIR)` (Arrow) or `datasets.load_dataset(DIR)` (Parquet).",
        "",
        "## Labels",
        "",
        *[f"- `{head}`: {', '.join(f'{i} = `{label}`' for i, label in enumerate(labels))}" for head, labels in HEADS.items()],
        "",
        "| split | head | " + " | ".join(["label", "rows"]) + " |",
        "|---|---|---|---|",
        *[
            f"| {name} | {head} | {label} | {n} |"
            for name, split in corpus.items() for head, counts in label_counts(split).items()
            for label, n in counts.items()
        ],
        "",
        "## Columns",
        "",
        "| column | type | what it holds |",
        "|---|---|---|",
        *[f"| `{name}` | {type(corpus_features()[name]).__name__} | {text} |" for name, text in COLUMNS.items()],
        "",
        "## Data card",
        "",
        "How the text was written and labeled, agreement and known limits (`training/data/README.md`):",
        "",
        *[("#" + line if line.startswith("#") else line) for line in DATA_CARD.read_text(encoding="utf-8").splitlines()],
        "",
    ]
    return "\n".join(lines)


def export_dataset(corpus, config: TrainConfig, folder: Path) -> None:
    """Write `save_to_disk`, the Parquet files and the card into a fresh `folder`, atomically."""
    staging = folder.with_name(folder.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    corpus.save_to_disk(str(staging))
    (staging / PARQUET_DIR).mkdir()
    for name, split in corpus.items():
        split.to_parquet(str(staging / PARQUET_DIR / f"{name}.parquet"))
    (staging / CARD_FILE).write_text(card_text(corpus, config), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stanceframe export-dataset",
        description="Write the labeled corpus as a Hugging Face dataset: save_to_disk, Parquet per split, a card.",
        epilog=(
            "Examples:\n"
            "  stanceframe export-dataset build/dataset\n"
            "  python -c \"import datasets; print(datasets.load_from_disk('build/dataset'))\"\n"
            "  python -c \"import datasets; print(datasets.load_dataset('build/dataset'))\""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", metavar="DIR", type=Path, help="Folder to write (new, or an earlier export).")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="Training config naming the labeled files (data_files, dev_files) and the context mode.")
    args = parser.parse_args(argv)
    quiet_progress_unless_terminal()
    try:
        config = config_from_file(args.config)
    except (ConfigError, DataError) as error:
        parser.error(str(error))
    if args.folder.exists() and any(args.folder.iterdir()) and not (args.folder / "dataset_dict.json").is_file():
        parser.error(f"{args.folder} is not empty and holds no earlier export (dataset_dict.json); choose a new folder.")
    try:
        corpus = load_corpus(config)
    except DataError as error:
        logger.error("%s", error)
        return 2
    export_dataset(corpus, config, args.folder)
    logger.info("Wrote %s: %s", args.folder, {name: len(split) for name, split in corpus.items()})
    return 0


def quiet_progress_unless_terminal() -> None:
    """The `datasets` progress bars only on a terminal, like the project's own tqdm bars."""
    import sys

    from datasets.utils.tqdm import disable_progress_bars

    if not sys.stderr.isatty():
        disable_progress_bars()


def config_from_file(path: Path) -> TrainConfig:
    """The TrainConfig a config file gives (as `stanceframe train --config` reads it, without overrides)."""
    if not Path(path).is_file():
        raise DataError(f"Config file {path} does not exist; pass --config with a training config JSON file.")
    values = json.loads(Path(path).read_text())
    unknown = set(values) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise DataError(f"{path} has unknown keys {sorted(unknown)}; expected TrainConfig fields.")
    return TrainConfig(**values)


if __name__ == "__main__":
    raise SystemExit(main())
