"""The labeling loop: score -> suggest -> a labeling tool's export -> import-labels -> the dataset grows."""

from __future__ import annotations

import json
import logging
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest

from model.labels import FRAME_LABELS, HEADS, STANCE_LABELS
from tests.conftest import read_jsonl, write_jsonl
from training import import_labels, suggest
from training.dataset import config_from_file, load_corpus, sentences_of

# Team-written sentences for the test article (none of them is in the labeled data).
HEADLINE = "Envoy ends tour of European capitals with no date for talks"
NEW_SENTENCES = [
    "The special envoy said every party he met wanted the fighting to stop.",
    "Officials in Warsaw said they doubted the proposal would change anything on the ground.",
    "Officials in Warsaw said they doubted the proposal could change anything on the ground.",
    "Grain shipments through the Black Sea were discussed only briefly, a diplomat said.",
    "A spokesman declined to say whether a second round of visits was planned.",
]


@pytest.fixture
def data_dir(tiny_data, tiny_dev, tmp_path):
    """Copies of the tiny labeled files, an empty imported.jsonl (as in the repository) and a config naming them."""
    folder = tmp_path / "data"
    (folder / "dev").mkdir(parents=True)
    train_files = [shutil.copy(p, folder / p.name) for p in tiny_data]
    dev_file = shutil.copy(tiny_dev, folder / "dev" / "sentences.jsonl")
    (folder / "imported.jsonl").touch()
    config = {
        "data_files": [str(p) for p in train_files] + [str(folder / "imported.jsonl")],
        "dev_files": [str(dev_file)],
        "context_mode": "headline_previous",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture
def scored_article(tiny_model_dir, tiny_data, tiny_dev, tmp_path):
    """`stanceframe score` output for an article of new sentences, one labeled training sentence and one dev sentence."""
    from model.score import main as score_main

    labeled = read_jsonl(tiny_data[1])[0]["text"]
    in_dev = read_jsonl(tiny_dev)[3]["text"]
    article = tmp_path / "article.txt"
    article.write_text("\n\n".join([HEADLINE, *NEW_SENTENCES[:3], labeled, in_dev, *NEW_SENTENCES[3:]]) + "\n")
    output = tmp_path / "scored.jsonl"
    assert score_main([str(article), "--output", str(output), "--model", str(tiny_model_dir), "--backend", "torch"]) == 0
    return output


def run_suggest(monkeypatch, tiny_predictor, *argv: str) -> int:
    monkeypatch.setattr(suggest, "load_predictor", lambda model, backend: tiny_predictor)
    return suggest.main(list(argv))


def annotation(stance: str, frame: str, user: int, **extra) -> dict:
    result = [
        {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": [stance]}},
        {"from_name": "frame", "to_name": "text", "type": "choices", "value": {"choices": [frame]}},
    ]
    return {"id": 100 + user, "completed_by": user, "result": result, "was_cancelled": False, **extra}


def test_the_loop_grows_the_dataset_by_exactly_the_good_rows(
    data_dir, scored_article, tiny_predictor, monkeypatch, tmp_path, caplog
):
    config_file = data_dir / "config.json"
    config = config_from_file(config_file)
    before = sentences_of(load_corpus(config)["train"])
    batch = tmp_path / "batch.json"
    # The tiny model's embeddings barely differ between sentences: no similarity cut here (see the next test).
    assert run_suggest(monkeypatch, tiny_predictor, str(scored_article), "--n", "5", "--output", str(batch),
                       "--config", str(config_file), "--format", "label-studio", "--max-similarity", "1") == 0
    tasks = json.loads(batch.read_text())
    texts = [task["data"]["text"] for task in tasks]
    # Already labeled (training or dev) sentences are never suggested.
    assert set(texts) <= {HEADLINE, *NEW_SENTENCES} and len(texts) == 5
    for task in tasks:
        [prediction] = task["predictions"]
        assert prediction["model_version"] == read_jsonl(scored_article)[0]["model"] and 0 <= prediction["score"] <= 1
        chosen = {item["from_name"]: item["value"]["choices"][0] for item in prediction["result"]}
        assert chosen["stance"] in STANCE_LABELS and chosen["frame"] in FRAME_LABELS
    assert [t["data"]["stance_margin"] for t in tasks] == sorted(t["data"]["stance_margin"] for t in tasks)

    # A human labels the batch in Label Studio and exports it (full JSON export).
    export = [dict(task, id=number) for number, task in enumerate(tasks, start=1)]
    export[0]["annotations"] = [annotation("skeptical", "credibility", 1)]
    export[1]["annotations"] = [annotation("sceptical", "credibility", 1)]  # not a label of the schema
    export[2]["annotations"] = [
        annotation("neutral", "diplomacy", 1),
        annotation("supportive", "diplomacy", 2, was_cancelled=True),
        annotation("neutral", "economy", 3, ground_truth=True),
    ]
    export[3]["annotations"] = []  # not labeled yet
    export[4]["annotations"] = [annotation("neutral", "other", 1), annotation("neutral", "other", 2)]
    export.append(dict(export[0], id=99))  # the same sentence twice in the export
    export_file = tmp_path / "project-1-export.json"
    export_file.write_text(json.dumps(export))

    caplog.set_level(logging.INFO)
    assert import_labels.main([str(export_file), "--source", "ls-batch-1", "--config", str(config_file)]) == 0
    assert "task 2 (Label Studio id 2): stance: expected one of ['supportive', 'skeptical', 'neutral'], " \
           "found 'sceptical'" in caplog.text
    assert "task 6 (Label Studio id 99): the same sentence as task 1" in caplog.text

    after = sentences_of(load_corpus(config)["train"])
    assert after[: len(before)] == before
    added = after[len(before):]
    expected = {
        texts[0]: ("skeptical", "credibility", "1"),
        texts[2]: ("neutral", "economy", "3"),  # the ground-truth annotation decides
        texts[4]: ("neutral", "other", "1, 2"),
    }
    assert {s.text: (s.stance, s.frame, s.annotator) for s in added} == expected
    assert {(s.source, s.export_file) for s in added} == {("ls-batch-1", export_file.name)}
    for sentence in added:
        assert sentence.imported_at and (sentence.context or "") == tasks[texts.index(sentence.text)]["data"]["context"]

    # The same export again adds nothing; the next batch leaves out what was just labeled.
    imported = (data_dir / "imported.jsonl").read_bytes()
    assert import_labels.main([str(export_file), "--source", "ls-batch-1", "--config", str(config_file)]) == 0
    assert (data_dir / "imported.jsonl").read_bytes() == imported
    assert run_suggest(monkeypatch, tiny_predictor, str(scored_article), "--n", "5", "--output", str(batch),
                       "--config", str(config_file), "--max-similarity", "1") == 0
    assert not {task["data"]["text"] for task in json.loads(batch.read_text())} & set(expected)


class WordEmbeddings:
    """The tiny predictor with word-count embeddings (L2-normalized), which do tell near-duplicates apart."""

    def __init__(self, predictor):
        self.predictor = predictor

    def contexts_of(self, texts):
        return self.predictor.contexts_of(texts)

    def embed(self, sentences, contexts=None):
        import zlib

        from training.data import normalize

        vectors = np.zeros((len(sentences), 256))
        for row, sentence in enumerate(sentences):
            for word in normalize(sentence).split():
                vectors[row, zlib.crc32(word.encode()) % 256] += 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_near_duplicates_are_never_suggested_together(data_dir, scored_article, tiny_predictor, monkeypatch, tmp_path):
    monkeypatch.setattr(suggest, "load_predictor", lambda model, backend: WordEmbeddings(tiny_predictor))
    output = tmp_path / "batch.jsonl"
    assert suggest.main([str(scored_article), "--n", "6", "--output", str(output),
                         "--config", str(data_dir / "config.json")]) == 0
    texts = {row["text"] for row in read_jsonl(output)}
    # Six candidates, two of them near-duplicates (one word apart): five suggestions, one of the pair.
    assert len(texts) == 5 and len({NEW_SENTENCES[1], NEW_SENTENCES[2]} & texts) == 1


def test_the_next_training_run_reads_the_imported_rows(data_dir, tiny_base, tmp_path):
    from training.train import train

    rows = [{"text": f"Team-written sentence number {n} about the envoy's tour.", "stance": "neutral",
             "frame": "diplomacy"} for n in range(3)]
    assert import_labels.main([str(write_jsonl(tmp_path / "labels.jsonl", rows)), "--source", "jsonl-1",
                               "--config", str(data_dir / "config.json")]) == 0
    values = json.loads((data_dir / "config.json").read_text())
    config = config_from_file(data_dir / "config.json")
    metrics = train(type(config)(**values, base_model=str(tiny_base), output_dir=str(tmp_path / "model"), epochs=1,
                                 max_steps=1, export_onnx=False, register=False))
    assert metrics["sentences"] == sum(len(read_jsonl(Path(p))) for p in config.data_files[:-1]) + 3


def test_plain_jsonl_rows_are_checked_one_by_one_and_dry_run_writes_nothing(data_dir, tiny_dev, tmp_path, caplog):
    dev_text = read_jsonl(tiny_dev)[0]["text"]
    rows = [
        {"text": "A new team-written sentence on the envoy.", "stance": "neutral", "frame": "diplomacy",
         "annotator": "reviewer-a"},
        {"text": "   ", "stance": "neutral", "frame": "diplomacy"},
        {"text": "Another new sentence.", "stance": "neutral"},
        {"text": dev_text.upper(), "stance": "neutral", "frame": "other"},  # the dev sentence, normalized the same
    ]
    labels = write_jsonl(tmp_path / "labels.jsonl", rows)
    with labels.open("a") as handle:
        handle.write("{not json\n")
    config_file = str(data_dir / "config.json")
    caplog.set_level(logging.INFO)
    assert import_labels.main([str(labels), "--source", "review", "--config", config_file, "--dry-run"]) == 0
    assert (data_dir / "imported.jsonl").read_bytes() == b""
    assert "line 2: `text` must be a non-empty string, found '   '" in caplog.text
    assert "line 3: frame: expected one of ['peace_process'" in caplog.text and "found nothing" in caplog.text
    assert "line 4: already labeled" in caplog.text and "line 5: invalid JSON" in caplog.text
    assert import_labels.main([str(labels), "--source", "review", "--config", config_file]) == 0
    [row] = read_jsonl(data_dir / "imported.jsonl")
    assert row["annotator"] == "reviewer-a" and row["source"] == "review" and row["id"].startswith("imp-")


def test_an_export_without_a_usable_row_or_with_bad_options_exits_2(data_dir, tmp_path):
    config_file = str(data_dir / "config.json")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "x", "stance": "positive", "frame": "other"}])
    assert import_labels.main([str(bad), "--source", "s", "--config", config_file]) == 2
    not_a_list = tmp_path / "export.json"
    not_a_list.write_text(json.dumps({"tasks": []}))
    assert import_labels.main([str(not_a_list), "--source", "s", "--config", config_file]) == 2
    with pytest.raises(SystemExit) as exit_info:
        import_labels.main([str(bad), "--source", "bad name!", "--config", config_file])
    assert exit_info.value.code == 2
    values = json.loads((data_dir / "config.json").read_text())
    values["data_files"] = values["data_files"][:-1]
    (data_dir / "no-import.json").write_text(json.dumps(values))
    good = write_jsonl(tmp_path / "good.jsonl", [{"text": "New.", "stance": "neutral", "frame": "other"}])
    assert import_labels.main([str(good), "--source", "s", "--config", str(data_dir / "no-import.json")]) == 2


def test_the_label_config_offers_exactly_the_schema_labels(capsys):
    assert suggest.main(["--print-label-config"]) == 0
    view = ElementTree.fromstring(capsys.readouterr().out)
    choices = {c.get("name"): [choice.get("value") for choice in c] for c in view.iter("Choices")}
    assert choices == {head: list(labels) for head, labels in HEADS.items()}
    assert {c.get("toName") for c in view.iter("Choices")} == {"text"}


def test_argilla_and_jsonl_outputs_carry_the_suggestions_and_scores(
    data_dir, scored_article, tiny_predictor, monkeypatch, tmp_path
):
    argv = [str(scored_article), "--n", "3", "--config", str(data_dir / "config.json")]
    assert run_suggest(monkeypatch, tiny_predictor, *argv, "--format", "argilla", "--output", str(tmp_path / "a.json")) == 0
    assert run_suggest(monkeypatch, tiny_predictor, *argv, "--output", str(tmp_path / "s.jsonl")) == 0
    records, plain = json.loads((tmp_path / "a.json").read_text()), read_jsonl(tmp_path / "s.jsonl")
    assert [r["fields"]["text"] for r in records] == [p["text"] for p in plain]
    for record, row in zip(records, plain):
        assert set(record["suggestions"]) == set(HEADS)
        stance = record["suggestions"]["stance"]
        assert stance["value"] == max(row["stance_scores"], key=row["stance_scores"].get)
        assert stance["score"] == pytest.approx(max(row["stance_scores"].values()))
        assert stance["agent"] == row["model"] and record["metadata"]["rank"] == row["rank"]
        top_two = sorted(row["stance_scores"].values())[-2:]
        assert row["stance_margin"] == pytest.approx(top_two[1] - top_two[0])


def test_error_rows_are_skipped_and_counted(tmp_path):
    good = {"id": "a", "sentence": 0, "text": "One.", "model": "m", "error": None,
            "stance_scores": dict(zip(STANCE_LABELS, (0.5, 0.3, 0.2))),
            "frame_scores": {label: 1 / len(FRAME_LABELS) for label in FRAME_LABELS}}
    failed = {"id": "b", "sentence": None, "text": None, "model": "m", "error": "empty text"}
    scored = suggest.read_scored([write_jsonl(tmp_path / "s.jsonl", [good, failed, good | {"id": "c"}])])
    assert scored.error_rows == 1 and scored.texts == ["One.", "One."]
    with pytest.raises(suggest.SuggestError, match="lacks the columns"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": ["x"]}), tmp_path / "other.parquet")
        suggest.read_scored([tmp_path / "other.parquet"])


def test_uncertainty_order_with_frame_margin_as_tie_breaker_and_a_similarity_cover():
    assert suggest.margins(np.array([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]])) == pytest.approx([0.2, 0.0])
    # Rows 0 and 1 are near-duplicates; row 2 is far from both, row 3 close to row 2.
    embeddings = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.1, 0.995]])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    assert suggest.select_diverse(embeddings, 3, 0.9) == [0, 2]
    assert suggest.select_diverse(embeddings, 3, 1.01) == [0, 1, 2]
    assert suggest.select_diverse(embeddings, 1, 0.9) == [0]
