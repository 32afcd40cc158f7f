"""`stanceframe score --neighbours K`: a neighbours column in every format, and no change without it."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from model.score import main
from tests.conftest import read_jsonl, write_jsonl


def sentences_file(tiny_data, tmp_path):
    """Two training sentences (so each has itself as its nearest neighbour), a new one and a bad row."""
    from training.data import load_labeled

    known = [s for s in load_labeled(tiny_data) if not s.article][:2]
    rows = [{"id": s.id, "text": s.text} for s in known] + [{"id": "new", "text": "Critics dismissed the plan."},
                                                            {"id": "bad", "text": ""}]
    return write_jsonl(tmp_path / "sentences.jsonl", rows), known


def read_neighbours(path):
    if path.suffix == ".jsonl":
        return [row["neighbours"] for row in read_jsonl(path)]
    if path.suffix == ".parquet":
        return pq.read_table(path).column("neighbours").to_pylist()
    return [json.loads(cell) if cell else None for cell in pa_csv.read_csv(path).column("neighbours").to_pylist()]


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "parquet"])
def test_neighbours_add_a_column_of_the_nearest_training_sentences(tiny_model_dir, tiny_data, tmp_path, output_format):
    source, known = sentences_file(tiny_data, tmp_path)
    output = tmp_path / f"out.{output_format}"
    assert main([str(source), "--unit", "sentence", "--neighbours", "3", "--output", str(output),
                 "--model", str(tiny_model_dir)]) == 0
    found = read_neighbours(output)
    assert len(found) == 4 and found[3] is None, "the error row has no neighbours"
    for sentence, neighbours in zip(known, found):
        assert len(neighbours) == 3
        assert (neighbours[0]["id"], neighbours[0]["text"], neighbours[0]["stance"]) == (
            sentence.id, sentence.text, sentence.stance
        )
        assert neighbours[0]["similarity"] == pytest.approx(1.0, abs=1e-3)
    if output_format == "parquet":
        neighbour_type = pq.read_schema(output).field("neighbours").type
        assert pa.types.is_list(neighbour_type)
        assert [f.name for f in neighbour_type.value_type] == ["id", "text", "stance", "frame", "similarity"]


@pytest.mark.parametrize("output_format", ["jsonl", "csv", "parquet"])
def test_without_neighbours_the_output_is_exactly_as_before(tiny_model_dir, tiny_data, tmp_path, output_format):
    from model.score import SCORES_COLUMNS, arrow_schema

    source, _ = sentences_file(tiny_data, tmp_path)
    plain, zero = tmp_path / f"plain.{output_format}", tmp_path / f"zero.{output_format}"
    common = [str(source), "--unit", "sentence", "--model", str(tiny_model_dir)]
    assert main([*common, "--output", str(plain)]) == 0
    assert main([*common, "--neighbours", "0", "--output", str(zero)]) == 0
    assert plain.read_bytes() == zero.read_bytes()
    if output_format == "parquet":
        assert pq.read_schema(plain).names == arrow_schema(scores_as_json=False).names
        assert "neighbours" not in pq.read_schema(plain).names and SCORES_COLUMNS == ("stance_scores", "frame_scores")


def test_unusable_neighbour_options_exit_2_with_the_fix(tiny_model_dir, tiny_data, tmp_path, caplog):
    from model.neighbours import INDEX_DIR

    source, _ = sentences_file(tiny_data, tmp_path)
    output = tmp_path / "out.jsonl"
    common = [str(source), "--unit", "sentence", "--output", str(output)]
    assert main([*common, "--neighbours", "21", "--model", str(tiny_model_dir)]) == 2
    assert "--neighbours must be between 0 and 20, found 21" in caplog.text
    no_index = shutil.copytree(tiny_model_dir, tmp_path / "no-index", ignore=shutil.ignore_patterns(INDEX_DIR))
    assert main([*common, "--neighbours", "2", "--model", str(no_index)]) == 2
    assert "has no neighbour index" in caplog.text and "Retrain with `stanceframe train`" in caplog.text
    assert not output.exists()
