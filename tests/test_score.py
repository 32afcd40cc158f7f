"""`stanceframe score`: formats, error rows, order, ids, offsets, and resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from model.labels import STANCE_LABELS
from model.score import main
from tests.conftest import PROJECT_DIR, SEED_ARTICLES, read_jsonl, write_jsonl

SENTENCE_ROWS = [
    {"id": "s1", "text": "China's plan is a sensible starting point, the minister said."},
    {"id": "s2", "text": "Critics say Beijing cannot be an honest broker."},
    {"id": "s3", "text": "Xi will pay a state visit to Russia from March 20 to 22."},
]


def read_output(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    rows = pa_csv.read_csv(path).to_pylist()
    for row in rows:
        for key in ("stance_scores", "frame_scores"):
            row[key] = json.loads(row[key]) if row[key] else None
    return rows


def score(tiny_model_dir, *argv: str) -> int:
    return main([*map(str, argv), "--model", str(tiny_model_dir)])


def test_seed_articles_give_one_row_per_sentence_with_exact_offsets(tiny_model_dir, tmp_path):
    output = tmp_path / "seeds.jsonl"
    assert score(tiny_model_dir, PROJECT_DIR / "training/data/seeds", "--output", output) == 0
    rows = read_output(output)
    texts = {p.name: p.read_text(encoding="utf-8") for p in SEED_ARTICLES}
    assert len(rows) == len(read_jsonl(PROJECT_DIR / "training/data/seed_sentences.jsonl"))
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    for row in rows:
        assert texts[row["id"]][row["start"] : row["end"]] == row["text"]
        assert row["stance"] in STANCE_LABELS and row["error"] is None
        assert set(row) >= {"id", "sentence", "start", "end", "text", "stance", "stance_scores",
                            "frame", "frame_scores", "model", "low_confidence"}


@pytest.mark.parametrize("input_format", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("output_format", ["jsonl", "csv", "parquet"])
def test_each_format_keeps_ids_and_order_one_row_per_sentence(tiny_model_dir, tmp_path, input_format, output_format):
    source = tmp_path / f"in.{input_format}"
    table = pa.Table.from_pylist(SENTENCE_ROWS)
    if input_format == "jsonl":
        write_jsonl(source, SENTENCE_ROWS)
    elif input_format == "csv":
        pa_csv.write_csv(table, source)
    else:
        pq.write_table(table, source)
    output = tmp_path / f"out.{output_format}"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--id-field", "id", "--output", output) == 0
    rows = read_output(output)
    assert [r["id"] for r in rows] == ["s1", "s2", "s3"]
    assert [r["text"] for r in rows] == [r["text"] for r in SENTENCE_ROWS]
    assert all(set(r["stance_scores"]) == set(STANCE_LABELS) for r in rows)


def test_bad_rows_become_error_rows_and_the_run_goes_on(tiny_model_dir, tmp_path, caplog):
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(
        b'{"id": "ok", "text": "China urged talks."}\n'
        b'{"id": "empty", "text": "   "}\n'
        b'{"id": "invisible", "text": "\\u200b\\u0000\\ufeff"}\n'
        b'{"id": "number", "text": 5}\n'
        b'{"id": "missing"}\n'
        b"not json\n"
        b'{"id": "bad-utf8", "text": "caf\xe9"}\n'
        b'{"id": "last", "text": "The talks resumed."}\n'
    )
    output = tmp_path / "out.jsonl"
    with caplog.at_level("INFO"):
        assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output) == 0
    rows = read_output(output)
    assert [r["id"] for r in rows] == [
        "ok", "empty", "invisible", "number", "missing", "mixed.jsonl:6", "mixed.jsonl:7", "last"
    ]
    errors = {r["id"]: r["error"] for r in rows}
    assert errors["ok"] is None and errors["last"] is None
    assert errors["empty"].startswith("empty text") and errors["invisible"].startswith("empty text")
    assert "must be a string, found int" in errors["number"]
    assert "no 'text' value" in errors["missing"]
    assert "not valid JSON" in errors["mixed.jsonl:6"]
    assert "not valid UTF-8" in errors["mixed.jsonl:7"]
    assert "Scored 2 sentences from 8 input sentences; 6 rows failed" in caplog.text


def test_an_undecodable_csv_cell_is_one_error_row(tiny_model_dir, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,text\na,China urged talks.\nb,caf\xe9 society\nc,The talks resumed.\n")
    output = tmp_path / "out.jsonl"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output) == 0
    rows = read_output(output)
    assert [(r["id"], r["error"] is None) for r in rows] == [("a", True), ("b", False), ("c", True)]


def test_unusable_inputs_and_options_exit_2_with_a_message(tiny_model_dir, tmp_path, caplog):
    source = write_jsonl(tmp_path / "in.jsonl", SENTENCE_ROWS)
    assert score(tiny_model_dir, tmp_path / "nope.jsonl", "--output", tmp_path / "o.jsonl") == 2
    assert "does not exist" in caplog.text
    assert score(tiny_model_dir, source, "--output", tmp_path / "o.xlsx") == 2
    assert "Cannot tell the output format" in caplog.text
    csv_source = tmp_path / "in.csv"
    pa_csv.write_csv(pa.Table.from_pylist(SENTENCE_ROWS), csv_source)
    assert score(tiny_model_dir, csv_source, "--text-field", "body", "--output", tmp_path / "o2.jsonl") == 2
    assert "has no column 'body'" in caplog.text
    assert main([str(source), "--output", str(tmp_path / "o3.jsonl"), "--model", "stanceframe:nope"]) == 2
    assert "No model 'stanceframe:nope'" in caplog.text


def test_a_leftover_partial_run_needs_resume(tiny_model_dir, tmp_path, caplog):
    source = write_jsonl(tmp_path / "in.jsonl", SENTENCE_ROWS)
    output = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.partial").mkdir()
    (tmp_path / "out.jsonl.partial" / "state.json").write_text(
        json.dumps({"signature": {}, "parts": 0, "units_done": 0, "sentences": 0, "failed": 0})
    )
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output) == 2
    assert "pass --resume" in caplog.text
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output, "--resume") == 2
    assert "other inputs, options or model" in caplog.text
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output, "--overwrite") == 0
    assert len(read_output(output)) == 3


def run_score(tiny_model_dir: Path, source: Path, output: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "training.cli", "score", str(source), "--unit", "sentence",
               "--output", str(output), "--model", str(tiny_model_dir), "--chunk-sentences", "40", *extra]
    return subprocess.Popen(command, cwd=PROJECT_DIR, env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_resume_after_kill_9_gives_exactly_the_rows_of_an_uninterrupted_run(tiny_model_dir, tmp_path):
    rows = [{"id": f"r{i}", "text": f"Sentence number {i} says the envoy met officials in city {i % 17}."}
            for i in range(2000)]
    rows[123]["text"] = ""
    source = write_jsonl(tmp_path / "big.jsonl", rows)
    reference, resumed = tmp_path / "reference.jsonl", tmp_path / "resumed.jsonl"
    assert run_score(tiny_model_dir, source, reference).wait(timeout=600) == 0

    process = run_score(tiny_model_dir, source, resumed)
    state = tmp_path / "resumed.jsonl.partial" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if state.exists() and json.loads(state.read_text())["parts"] >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not resumed.exists(), "the run finished before it could be killed"
    done = json.loads(state.read_text())["units_done"]
    assert 0 < done < len(rows)

    finished = run_score(tiny_model_dir, source, resumed, "--resume")
    _, stderr = finished.communicate(timeout=600)
    assert finished.returncode == 0, stderr.decode()
    assert b"Resuming" in stderr
    assert resumed.read_bytes() == reference.read_bytes()
    assert len(read_jsonl(resumed)) == len(rows)
    assert not (tmp_path / "resumed.jsonl.partial").exists()


def test_the_int8_backend_scores_the_same_rows(tiny_onnx_model_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", SENTENCE_ROWS)
    output = tmp_path / "out.jsonl"
    argv = [str(source), "--unit", "sentence", "--output", str(output), "--model", str(tiny_onnx_model_dir)]
    assert main([*argv, "--backend", "onnx-int8"]) == 0
    rows = read_output(output)
    assert [r["id"] for r in rows] == ["s1", "s2", "s3"] and all(r["error"] is None for r in rows)


def test_csv_cells_spanning_lines_in_a_file_larger_than_a_read_block(tiny_model_dir, tmp_path):
    rows = [{"id": f"a{i}", "text": f"First line of article {i}.\nSecond line, padded {'x' * 400}."} for i in range(3000)]
    source = tmp_path / "articles.csv"
    pa_csv.write_csv(pa.Table.from_pylist(rows), source)
    assert source.stat().st_size > 1 << 20
    output = tmp_path / "out.jsonl"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output) == 0
    assert [r["id"] for r in read_output(output)] == [r["id"] for r in rows]


def test_a_missing_text_column_fails_before_any_partial_output(tiny_model_dir, tmp_path, caplog):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(SENTENCE_ROWS), source)
    output = tmp_path / "out.jsonl"
    assert score(tiny_model_dir, source, "--text-field", "body", "--output", output) == 2
    assert "has no column 'body'" in caplog.text
    assert not (tmp_path / "out.jsonl.partial").exists()
    assert main([str(source), "--output", str(output), "--model", str(tmp_path / "no-such-model")]) == 2
    assert "No model" in caplog.text


@pytest.mark.parametrize("input_format", ["jsonl", "csv", "parquet"])
def test_a_context_column_is_read_with_each_sentence(tiny_model_dir, tmp_path, input_format):
    from model.predictor import Predictor

    rows = [dict(row, ctx=context) for row, context in zip(SENTENCE_ROWS, ["Beijing published a plan.", "", "Talks."])]
    source = tmp_path / f"in.{input_format}"
    if input_format == "jsonl":
        write_jsonl(source, rows)
    elif input_format == "csv":
        pa_csv.write_csv(pa.Table.from_pylist(rows), source)
    else:
        pq.write_table(pa.Table.from_pylist(rows), source)
    with_context, without = tmp_path / "with.jsonl", tmp_path / "without.jsonl"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--context-field", "ctx", "--output", with_context) == 0
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", without) == 0
    expected = Predictor.from_directory(tiny_model_dir).predict([r["text"] for r in rows], [r["ctx"] for r in rows])
    scored = read_output(with_context)
    for row, prediction in zip(scored, expected):
        assert row["stance_scores"] == pytest.approx(prediction.stance_scores, abs=1e-6)
    # The tiny model reads context, so a sentence with context scores differently from one without.
    assert scored[0]["stance_scores"] != pytest.approx(read_output(without)[0]["stance_scores"], abs=1e-6)
    assert scored[1]["stance_scores"] == pytest.approx(read_output(without)[1]["stance_scores"], abs=1e-6)


def test_a_context_column_is_refused_for_articles_and_must_exist(tiny_model_dir, tmp_path, caplog):
    source = write_jsonl(tmp_path / "in.jsonl", SENTENCE_ROWS)
    assert score(tiny_model_dir, source, "--context-field", "ctx", "--output", tmp_path / "o.jsonl") == 2
    assert "--context-field needs --unit sentence" in caplog.text
    csv_source = tmp_path / "in.csv"
    pa_csv.write_csv(pa.Table.from_pylist(SENTENCE_ROWS), csv_source)
    assert score(tiny_model_dir, csv_source, "--unit", "sentence", "--context-field", "ctx",
                 "--output", tmp_path / "o2.jsonl") == 2
    assert "has no column 'ctx'" in caplog.text


def test_articles_are_scored_with_the_context_of_each_sentence(tiny_model_dir, tmp_path):
    from model.predictor import Predictor

    output = tmp_path / "out.jsonl"
    assert score(tiny_model_dir, SEED_ARTICLES[1], "--output", output) == 0
    rows = read_output(output)
    analysis = Predictor.from_directory(tiny_model_dir).analyze(SEED_ARTICLES[1].read_text(encoding="utf-8"))
    assert [r["text"] for r in rows] == [s.text for s in analysis.sentences]
    for row, sentence in zip(rows, analysis.sentences):
        assert row["stance_scores"] == pytest.approx(sentence.stance_scores, abs=1e-6)


def test_the_output_never_overwrites_an_input_or_an_existing_file(tiny_model_dir, tmp_path, caplog):
    source = write_jsonl(tmp_path / "in.jsonl", SENTENCE_ROWS)
    before = source.read_bytes()
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", source) == 2
    assert "is one of the inputs" in caplog.text and source.read_bytes() == before
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", source, "--overwrite") == 2
    existing = tmp_path / "out.jsonl"
    existing.write_text("keep me\n")
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", existing) == 2
    assert "exists; pass --overwrite" in caplog.text and existing.read_text() == "keep me\n"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", existing, "--overwrite") == 0
    assert len(read_output(existing)) == 3
    stray = tmp_path / "other.jsonl.partial"
    stray.mkdir()
    (stray / "notes.txt").write_text("not ours")
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", tmp_path / "other.jsonl") == 2
    assert "holds no checkpoint" in caplog.text and (stray / "notes.txt").exists()


def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_the_lock(tiny_model_dir, tmp_path, caplog):
    import fcntl

    source = write_jsonl(tmp_path / "in.jsonl", SENTENCE_ROWS)
    partial = tmp_path / "out.jsonl.partial"
    partial.mkdir()
    (partial / "state.json").write_text(
        json.dumps({"signature": {}, "parts": 0, "units_done": 0, "sentences": 0, "failed": 0})
    )
    with (partial / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert score(tiny_model_dir, source, "--unit", "sentence", "--output", tmp_path / "out.jsonl", "--resume") == 2
    assert "Another stanceframe score run is writing" in caplog.text


def test_the_resume_signature_holds_the_model_content(tiny_model_dir, tmp_path):
    import shutil

    from model.store import model_fingerprint

    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    before = model_fingerprint(copy)
    assert before == model_fingerprint(tiny_model_dir)
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes()[:-1] + b"\x00")
    assert model_fingerprint(copy) != before


def test_rows_that_broke_the_run_are_error_rows(tiny_model_dir, tmp_path):
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(
        b'{"id": "ok", "text": "China urged talks."}\n'
        + b"[" * 100_000 + b"\n"
        + b'{"id": "surrogate", "text": "bad \\ud800 text"}\n'
        + b'{"id": "bad-id-\\udc00", "text": "An id with a lone surrogate."}\n'
        + b'{"id": "last", "text": "The talks resumed."}\n'
    )
    output = tmp_path / "out.jsonl"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output) == 0
    rows = read_output(output)
    assert [r["id"] for r in rows] == ["ok", "hostile.jsonl:2", "surrogate", "bad-id-\\udc00", "last"]
    assert "nested too deeply" in rows[1]["error"]
    assert "unpaired surrogate" in rows[2]["error"]
    assert rows[3]["error"] is None and rows[4]["error"] is None


def test_malformed_csv_records_and_huge_cells_past_the_first_block_are_error_rows(tiny_model_dir, tmp_path):
    from model.batch_io import MAX_CSV_CELL_BYTES

    lines = [b"id,text"] + [f"r{i},Sentence {i} about the envoy's tour.".encode() for i in range(20_000)]
    lines[15_001] = b'bad,"a "quoted" mess"'
    lines[15_002] = b"huge," + b"x" * (MAX_CSV_CELL_BYTES + 1)
    source = tmp_path / "in.csv"
    source.write_bytes(b"\n".join(lines) + b"\n")
    output = tmp_path / "out.jsonl"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output) == 0
    rows = read_output(output)
    assert len(rows) == 20_000
    errors = {r["id"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"in.csv:15001", "in.csv:15002"}
    assert "not valid CSV" in errors["in.csv:15001"] and "field larger than field limit" in errors["in.csv:15002"]
    assert rows[-1]["id"] == "r19999" and rows[-1]["error"] is None


def test_csv_output_neutralizes_cells_a_spreadsheet_would_run(tiny_model_dir, tmp_path):
    rows = [{"id": "=HYPERLINK(1)", "text": "=1+2 is not a sentence"}, {"id": "-x", "text": "@SUM(A1) leads."},
            {"id": "plain", "text": "China welcomed it."}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.csv"
    assert score(tiny_model_dir, source, "--unit", "sentence", "--output", output) == 0
    scored = read_output(output)
    assert [r["id"] for r in scored] == ["'=HYPERLINK(1)", "'-x", "plain"]
    assert [r["text"] for r in scored] == ["'=1+2 is not a sentence", "'@SUM(A1) leads.", "China welcomed it."]


def test_a_folder_of_table_shards_is_read_in_name_order_and_txt_folders_stay_articles(tmp_path):
    from model.batch_io import expand_inputs

    shards = tmp_path / "shards"
    shards.mkdir()
    for name in ("b.parquet", "a.jsonl", "_SUCCESS", ".a.jsonl.crc", "notes.md"):
        (shards / name).write_text("")
    assert [p.name for p in expand_inputs([shards])] == ["a.jsonl", "b.parquet"]
    articles = tmp_path / "articles"
    articles.mkdir()
    for name in ("2.txt", "1.txt", "index.csv"):
        (articles / name).write_text("x")
    assert [p.name for p in expand_inputs([articles])] == ["1.txt", "2.txt"]


def test_ray_shards_are_table_files_and_groups_of_articles_in_input_order(tmp_path):
    from model.ray_engine import plan_shards

    files = [tmp_path / name for name in ("1.txt", "2.txt", "3.txt", "t.jsonl", "4.txt", "u.parquet")]
    shards = plan_shards(files, shard_units=2)
    assert [[Path(p).name for p in shard.paths] for shard in shards] == [
        ["1.txt", "2.txt"], ["3.txt"], ["t.jsonl"], ["4.txt"], ["u.parquet"]
    ]
    assert [shard.index for shard in shards] == list(range(5))


ARTICLE_ROWS = [
    {"id": "a1", "text": "China offered a plan. Critics doubted it.", "outlet": "Harbor Ledger", "date": "2023-02-24",
     "url": "https://harbor-ledger.example/a1"},
    {"id": "a2", "text": "   ", "outlet": "Meridian Brief", "date": "2023-03-01", "url": None},
    {"id": "a3", "text": "=1+2 is no plan, the editor wrote.", "outlet": "=cmd", "date": "2023-03-02",
     "url": "https://meridian.example/a3"},
]


def write_input(rows: list[dict], path: Path) -> Path:
    if path.suffix == ".jsonl":
        return write_jsonl(path, rows)
    table = pa.Table.from_pylist(rows)
    pa_csv.write_csv(table, path) if path.suffix == ".csv" else pq.write_table(table, path)
    return path


@pytest.mark.parametrize("input_format", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("output_format", ["jsonl", "csv", "parquet"])
def test_kept_columns_reach_every_row_in_every_format_error_rows_too(tiny_model_dir, tmp_path, input_format,
                                                                     output_format):
    source = write_input(ARTICLE_ROWS, tmp_path / f"in.{input_format}")
    output = tmp_path / f"out.{output_format}"
    assert score(tiny_model_dir, source, "--keep", "outlet,date", "--keep", "url", "--output", output) == 0
    rows = read_output(output)
    by_id = {row["id"]: row for row in ARTICLE_ROWS}
    assert [row["id"] for row in rows] == ["a1", "a1", "a2", "a3"]
    assert rows[2]["error"].startswith("empty text")
    names = pq.read_schema(output).names if output_format == "parquet" else list(rows[0])
    assert names[-3:] == ["outlet", "date", "url"]
    # CSV has no null (an empty cell is read back as an empty string) and pyarrow reads dates as dates.
    as_csv = "csv" in (input_format, output_format)
    cell = (lambda value: "" if value is None else str(value)) if as_csv else (lambda value: value)
    for row in rows:
        expected = by_id[row["id"]]
        outlet = "'=cmd" if output_format == "csv" and row["id"] == "a3" else expected["outlet"]
        assert tuple(map(cell, (row["outlet"], row["date"], row["url"]))) == tuple(
            map(cell, (outlet, expected["date"], expected["url"])))


def test_kept_values_keep_their_types_where_the_formats_allow(tiny_model_dir, tmp_path):
    import datetime

    rows = [{"id": "a1", "text": "China offered a plan.", "day": datetime.date(2023, 2, 24), "year": 2023,
             "tags": ["plan", "china"]}]
    parquet_source = write_input(rows, tmp_path / "in.parquet")
    assert score(tiny_model_dir, parquet_source, "--keep-all", "--output", tmp_path / "out.parquet") == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.field("day").type == pa.date32() and table.schema.field("year").type == pa.int64()
    assert table.to_pylist()[0]["tags"] == ["plan", "china"]
    assert score(tiny_model_dir, parquet_source, "--keep-all", "--output", tmp_path / "out.jsonl") == 0
    assert {k: read_jsonl(tmp_path / "out.jsonl")[0][k] for k in ("day", "year", "tags")} == {
        "day": "2023-02-24", "year": 2023, "tags": ["plan", "china"]}
    assert score(tiny_model_dir, parquet_source, "--keep-all", "--output", tmp_path / "out.csv") == 0
    cells = pa_csv.read_csv(tmp_path / "out.csv", convert_options=pa_csv.ConvertOptions(
        column_types={"day": pa.string(), "year": pa.string(), "tags": pa.string()})).to_pylist()[0]
    assert (cells["day"], cells["year"], json.loads(cells["tags"])) == ("2023-02-24", "2023", ["plan", "china"])

    # JSONL keeps JSON's types; a JSONL value in Parquet output is text (JSON for non-strings).
    jsonl_source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a1", "text": "China offered a plan.", "year": 2023,
                                                        "outlet": "X"}, {"id": "a2", "text": "Talks.", "year": None}])
    assert score(tiny_model_dir, jsonl_source, "--keep-all", "--output", tmp_path / "j.jsonl") == 0
    assert [(r["year"], r["outlet"]) for r in read_jsonl(tmp_path / "j.jsonl")] == [(2023, "X"), (None, None)]
    assert score(tiny_model_dir, jsonl_source, "--keep-all", "--output", tmp_path / "j.parquet") == 0
    assert [(r["year"], r["outlet"]) for r in pq.read_table(tmp_path / "j.parquet").to_pylist()] == [
        ("2023", "X"), (None, None)]


def test_keep_all_keeps_every_column_but_id_and_text_and_txt_inputs_read_their_folders_metadata(tiny_model_dir, tmp_path):
    source = write_input(ARTICLE_ROWS, tmp_path / "in.csv")
    assert score(tiny_model_dir, source, "--keep-all", "--output", tmp_path / "out.jsonl") == 0
    assert list(read_jsonl(tmp_path / "out.jsonl")[0])[-3:] == ["outlet", "date", "url"]

    assert score(tiny_model_dir, PROJECT_DIR / "training/data/seeds", "--keep", "outlet,date",
                 "--output", tmp_path / "seeds.parquet") == 0
    rows = pq.read_table(tmp_path / "seeds.parquet").to_pylist()
    assert {(r["outlet"], r["date"]) for r in rows} == {("seed wire reports", "2023-03-17")}
    assert {r["id"] for r in rows} == {p.name for p in SEED_ARTICLES}

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "one.txt").write_text("China offered a plan.", encoding="utf-8")
    (folder / "two.txt").write_text("   ", encoding="utf-8")
    (folder / "metadata.csv").write_text("id,outlet\none.txt,X\ntwo.txt,Y\n", encoding="utf-8")
    assert score(tiny_model_dir, folder, "--keep-all", "--output", tmp_path / "txt.jsonl") == 0
    assert [(r["id"], r["outlet"], r["error"] is None) for r in read_jsonl(tmp_path / "txt.jsonl")] == [
        ("one.txt", "X", True), ("two.txt", "Y", False)]


def test_kept_columns_that_are_missing_or_clash_with_output_columns_exit_2(tiny_model_dir, tmp_path, caplog):
    source = write_input(ARTICLE_ROWS, tmp_path / "in.csv")
    assert score(tiny_model_dir, source, "--keep", "region", "--output", tmp_path / "o.jsonl") == 2
    assert "has no column 'region'" in caplog.text and "Fix the name in --keep" in caplog.text
    labeled = write_jsonl(tmp_path / "labeled.jsonl", [{"id": "a", "text": "Talks.", "stance": "neutral"}])
    assert score(tiny_model_dir, labeled, "--keep-all", "--output", tmp_path / "o.jsonl") == 2
    assert "have the name of an output column" in caplog.text and "rename them in the input" in caplog.text
    assert score(tiny_model_dir, PROJECT_DIR / "training/data/seeds", "--keep", "region",
                 "--output", tmp_path / "o.jsonl") == 2
    assert "metadata.csv (the kept columns of" in caplog.text
    assert not (tmp_path / "o.jsonl.partial").exists()


def test_the_resume_signature_holds_the_kept_columns(tiny_model_dir, tmp_path):
    import argparse

    from model.predictor import Predictor
    from model.score import run_signature

    source = write_input(ARTICLE_ROWS, tmp_path / "in.jsonl")
    args = argparse.Namespace(unit="article", text_field="text", id_field="id", context_field=None, neighbours=0)
    predictor = Predictor.from_directory(tiny_model_dir)

    def signature_with(*kept):
        return run_signature([source], args, predictor.model_tag, predictor.backend, predictor.model_dir, "jsonl",
                             *kept)

    signature = signature_with([("outlet", None)])
    assert signature["keep"] == [["outlet", "text"]]
    assert signature_with([("outlet", pa.large_string())]) != signature
    assert signature_with([("date", None)]) != signature
    assert signature_with()["keep"] == []
