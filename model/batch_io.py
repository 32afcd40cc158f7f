"""Streaming readers and writers for batch scoring: .txt, JSONL, CSV and Parquet.

Readers yield one `InputUnit` per article or sentence, in input order, and never raise
for a bad row: a row that cannot be scored becomes a unit with an `error`, so the
scorer can write an error row for it and go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

TABLE_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
FORMATS = ("jsonl", "csv", "parquet")
CSV_BLOCK_BYTES = 1 << 20
PARQUET_BATCH_ROWS = 1024


class InputError(ValueError):
    """An input path or option is unusable as a whole (not a single bad row)."""


@dataclass(frozen=True)
class Fields:
    """Which columns of a table input hold the text, the row id and (optionally) a sentence's context."""

    text: str = "text"
    id: str = "id"
    context: str | None = None

    def columns(self) -> list[str]:
        return [name for name in (self.id, self.text, self.context) if name]


@dataclass(frozen=True)
class InputUnit:
    """One article or sentence to score (with its context, if given), or the reason it cannot be scored."""

    id: str
    text: str | None
    error: str | None = None
    context: str = ""


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files in the given order; a folder contributes the .txt files directly in it, sorted by name."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
            if not found:
                raise InputError(f"Folder {path} contains no .txt files; expected one article per .txt file.")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in TABLE_SUFFIXES and path.suffix.lower() != ".txt":
                raise InputError(
                    f"Cannot read {path}: expected .txt, .jsonl, .csv or .parquet, found {path.suffix or 'no suffix'!r}."
                )
            files.append(path)
        else:
            raise InputError(f"Input {path} does not exist.")
    return files


def _decoded(value: object, what: str) -> tuple[str | None, str | None]:
    """(the string, None) or (None, why it is not a string)."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as error:
            return None, f"{what} is not valid UTF-8 ({error.reason} at byte {error.start})"
    if not isinstance(value, str):
        return None, f"{what} must be a string, found {type(value).__name__}"
    return value, None


def _text_unit(row_id: str, value: object, text_field: str, context: object = None) -> InputUnit:
    if value is None:
        return InputUnit(row_id, None, f"missing text: the row has no {text_field!r} value")
    text, error = _decoded(value, "text")
    if error:
        return InputUnit(row_id, None, error)
    if not text.strip():
        return InputUnit(row_id, None, "empty text")
    if context is None:
        return InputUnit(row_id, text)
    context_text, error = _decoded(context, "context")
    return InputUnit(row_id, None, error) if error else InputUnit(row_id, text, context=context_text)


def _row_id(path: Path, number: int, value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if value is None or value == "":
        return f"{path.name}:{number}"
    return str(value)


def _read_txt(path: Path) -> Iterator[InputUnit]:
    try:
        # utf-8-sig: a byte-order mark is not part of the article.
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        yield InputUnit(path.name, None, f"file is not valid UTF-8 ({error.reason} at byte {error.start})")
        return
    yield _text_unit(path.name, text, "file")


def _read_jsonl(path: Path, fields: Fields) -> Iterator[InputUnit]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            fallback = f"{path.name}:{number}"
            try:
                row = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError as error:
                yield InputUnit(fallback, None, f"line is not valid UTF-8 ({error.reason} at byte {error.start})")
                continue
            except json.JSONDecodeError as error:
                yield InputUnit(fallback, None, f"line is not valid JSON ({error.msg})")
                continue
            if not isinstance(row, dict):
                yield InputUnit(fallback, None, f"expected a JSON object, found {type(row).__name__}")
                continue
            context = row.get(fields.context) if fields.context else None
            yield _text_unit(_row_id(path, number, row.get(fields.id)), row.get(fields.text), fields.text, context)


def _table_batches(path: Path, kind: str, fields: Fields):
    """Column names and a stream of record batches (the text read as bytes from CSV)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if kind == "parquet":
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        columns = [c for c in fields.columns() if c in names] or names[:1]
        return names, parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)
    read_options = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    # Articles span lines inside quoted cells.
    parse_options = pa_csv.ParseOptions(newlines_in_values=True)
    names = pa_csv.open_csv(path, read_options=read_options, parse_options=parse_options).schema.names
    columns = [c for c in fields.columns() if c in names]
    reader = pa_csv.open_csv(
        path,
        read_options=read_options,
        parse_options=parse_options,
        # Only the columns used, as bytes decoded per row: one bad cell is one error row.
        convert_options=pa_csv.ConvertOptions(
            include_columns=columns,
            column_types={name: pa.binary() for name in columns},
            strings_can_be_null=False,
        ),
    )
    return names, reader


def _read_table(path: Path, kind: str, fields: Fields) -> Iterator[InputUnit]:
    names, batches = _table_batches(path, kind, fields)
    _check_names(path, names, fields)
    number = 0
    for batch in batches:
        columns = batch.to_pydict()
        texts = columns[fields.text]
        ids = columns.get(fields.id, [None] * len(texts))
        contexts = columns[fields.context] if fields.context else [None] * len(texts)
        for row_id, text, context in zip(ids, texts, contexts):
            number += 1
            yield _text_unit(_row_id(path, number, row_id), text, fields.text, context)


def _check_names(path: Path, names: Sequence[str], fields: Fields) -> None:
    for name, option in ((fields.text, "--text-field"), (fields.context, "--context-field")):
        if name and name not in names:
            raise InputError(f"{path} has no column {name!r}; found {names}. Pass {option} with the right column.")


def check_columns(paths: Sequence[Path], fields: Fields) -> None:
    """Fail before any work when a table input lacks the text (or context) column or cannot be parsed."""
    import pyarrow as pa

    for path in paths:
        kind = TABLE_SUFFIXES.get(path.suffix.lower())
        if kind in ("csv", "parquet"):
            try:
                names, _ = _table_batches(path, kind, fields)
            except pa.ArrowException as error:
                raise InputError(f"Cannot read {path} as {kind}: {error}") from error
            _check_names(path, names, fields)


def read_units(paths: Sequence[Path], fields: Fields) -> Iterator[InputUnit]:
    """All input units of all files, in order."""
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".txt":
            yield from _read_txt(path)
        elif TABLE_SUFFIXES[suffix] == "jsonl":
            yield from _read_jsonl(path, fields)
        else:
            yield from _read_table(path, TABLE_SUFFIXES[suffix], fields)


def count_units(paths: Sequence[Path]) -> int | None:
    """Cheap count of input units for the progress bar (None when it would need a full parse)."""
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".txt":
            total += 1
        elif suffix == ".parquet":
            total += pq.ParquetFile(path).metadata.num_rows
        elif TABLE_SUFFIXES.get(suffix) == "jsonl":
            with path.open("rb") as handle:
                total += sum(1 for line in handle if line.strip())
        else:
            return None
    return total
