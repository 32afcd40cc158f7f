"""Streaming readers and writers for batch scoring: .txt, JSONL, CSV and Parquet.

Readers yield one `InputUnit` per article or sentence, in input order, and never raise
for a bad row: a row that cannot be scored becomes a unit with an `error`, so the
scorer can write an error row for it and go on.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model.schema import SCORED_FIELDS
from model.segment import has_visible_text

TABLE_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
FORMATS = ("jsonl", "csv", "parquet")
PARQUET_BATCH_ROWS = 1024
# A CSV cell larger than this is an error row (the reader holds one record in memory).
MAX_CSV_CELL_BYTES = 16 << 20
# Kept columns of a .txt input come from this file in its folder, one row per .txt file (`id` = the file name).
TXT_METADATA_FILE = "metadata.csv"
# JSONL has no header: a kept column must appear in, and --keep-all keeps the keys of, this many first rows.
JSONL_SCAN_ROWS = 1000


class InputError(ValueError):
    """An input path or option is unusable as a whole (not a single bad row)."""


@dataclass(frozen=True)
class Fields:
    """Which columns of a table input hold the text, the row id, (optionally) a sentence's context, and the kept ones."""

    text: str = "text"
    id: str = "id"
    context: str | None = None
    # Columns copied unchanged onto every output row of the unit (resolved by `kept_columns`).
    keep: tuple[str, ...] = ()

    def columns(self) -> list[str]:
        return list(dict.fromkeys(name for name in (self.id, self.text, self.context, *self.keep) if name))

    def blank(self) -> dict:
        """The kept values of a row that could not be read: every kept column, empty."""
        return dict.fromkeys(self.keep)


@dataclass(frozen=True)
class InputUnit:
    """One article or sentence to score (with its context, if given), or the reason it cannot be scored.

    `metadata` holds the kept columns' values, which every output row of the unit carries.
    """

    id: str
    text: str | None
    error: str | None = None
    context: str = ""
    metadata: dict = field(default_factory=dict)


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files in the given order.

    A folder contributes the .txt files directly in it (one article each), or, when it has
    none, its table files (.jsonl, .csv, .parquet shards), sorted by name.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
            found = [p for p in inside if p.suffix.lower() == ".txt"] or [
                p for p in inside if p.suffix.lower() in TABLE_SUFFIXES
            ]
            if not found:
                raise InputError(
                    f"Folder {path} contains no .txt, .jsonl, .csv or .parquet files; expected one article per "
                    ".txt file or a folder of table shards."
                )
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
    """(the string, None) or (None, why it is not usable text)."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as error:
            return None, f"{what} is not valid UTF-8 ({error.reason} at byte {error.start})"
    if not isinstance(value, str):
        return None, f"{what} must be a string, found {type(value).__name__}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        # A lone surrogate: from a JSON escape such as "\ud800", or from undecodable CSV bytes.
        return None, f"{what} is not valid UTF-8 (an unpaired surrogate at character {error.start})"
    return value, None


def _text_unit(row_id: str, value: object, text_field: str, context: object = None, metadata: dict | None = None) -> InputUnit:
    metadata = metadata or {}
    if value is None:
        return InputUnit(row_id, None, f"missing text: the row has no {text_field!r} value", metadata=metadata)
    text, error = _decoded(value, "text")
    if error:
        return InputUnit(row_id, None, error, metadata=metadata)
    if not has_visible_text(text):
        return InputUnit(row_id, None, "empty text: only white space, control or zero-width characters",
                         metadata=metadata)
    if context is None:
        return InputUnit(row_id, text, metadata=metadata)
    context_text, error = _decoded(context, "context")
    if error:
        return InputUnit(row_id, None, error, metadata=metadata)
    return InputUnit(row_id, text, context=context_text, metadata=metadata)


def _utf8_safe(value):
    """A kept JSON value that can be written as UTF-8: unpaired surrogates (from escapes like "\\ud800") become \\udxxx text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", errors="backslashreplace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [_utf8_safe(item) for item in value]
    if isinstance(value, dict):
        return {_utf8_safe(key): _utf8_safe(item) for key, item in value.items()}
    return value


def _row_id(path: Path, number: int, value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if value is None or value == "":
        return f"{path.name}:{number}"
    # Written to the output, so it must be valid UTF-8: unpaired surrogates become \udxxx escapes.
    return str(value).encode("utf-8", errors="backslashreplace").decode("utf-8")


def _read_txt(path: Path, metadata: dict) -> Iterator[InputUnit]:
    try:
        # utf-8-sig: a byte-order mark is not part of the article.
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        yield InputUnit(path.name, None, f"file is not valid UTF-8 ({error.reason} at byte {error.start})",
                        metadata=metadata)
        return
    yield _text_unit(path.name, text, "file", metadata=metadata)


def txt_metadata(folder: Path) -> tuple[list[str], dict[str, dict]]:
    """The columns of a folder's `metadata.csv` and its rows by .txt file name (empty when there is none)."""
    import csv

    path = folder / TXT_METADATA_FILE
    if not path.is_file():
        return [], {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        names = list(reader.fieldnames or [])
        if "id" not in names:
            raise InputError(f"{path} has no 'id' column (the .txt file name of each row); found {names}.")
        return names, {row["id"]: row for row in reader}


def _read_jsonl(path: Path, fields: Fields) -> Iterator[InputUnit]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            fallback = f"{path.name}:{number}"
            try:
                row = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError as error:
                yield InputUnit(fallback, None, f"line is not valid UTF-8 ({error.reason} at byte {error.start})",
                                metadata=fields.blank())
                continue
            except json.JSONDecodeError as error:
                yield InputUnit(fallback, None, f"line is not valid JSON ({error.msg})", metadata=fields.blank())
                continue
            except RecursionError:
                yield InputUnit(fallback, None, "line is nested too deeply to parse as JSON", metadata=fields.blank())
                continue
            if not isinstance(row, dict):
                yield InputUnit(fallback, None, f"expected a JSON object, found {type(row).__name__}",
                                metadata=fields.blank())
                continue
            context = row.get(fields.context) if fields.context else None
            metadata = {name: _utf8_safe(row.get(name)) for name in fields.keep}
            yield _text_unit(_row_id(path, number, row.get(fields.id)), row.get(fields.text), fields.text, context,
                             metadata)


def _parquet_batches(path: Path, fields: Fields):
    """Column names and a stream of record batches of the columns used."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    columns = [c for c in fields.columns() if c in names] or names[:1]
    return names, parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)


def _read_parquet(path: Path, fields: Fields) -> Iterator[InputUnit]:
    names, batches = _parquet_batches(path, fields)
    _check_names(path, names, fields)
    number = 0
    for batch in batches:
        columns = batch.to_pydict()
        texts = columns[fields.text]
        ids = columns.get(fields.id, [None] * len(texts))
        contexts = columns[fields.context] if fields.context else [None] * len(texts)
        kept = [columns[name] for name in fields.keep]
        for index, (row_id, text, context) in enumerate(zip(ids, texts, contexts)):
            number += 1
            metadata = {name: values[index] for name, values in zip(fields.keep, kept)}
            yield _text_unit(_row_id(path, number, row_id), text, fields.text, context, metadata)


def _csv_records(path: Path):
    """(header, records): Python's csv reader, one record at a time, so a bad record is one error row.

    Bytes that are not UTF-8 are kept as surrogates and reported per cell by `_decoded`.
    """
    import csv

    handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(handle, strict=True)
    csv.field_size_limit(MAX_CSV_CELL_BYTES)
    try:
        header = next(reader, [])
    except csv.Error as error:
        handle.close()
        raise InputError(f"Cannot read {path} as CSV: the header is malformed ({error}).") from error
    return header, reader, handle


def _read_csv(path: Path, fields: Fields) -> Iterator[InputUnit]:
    import csv

    header, reader, handle = _csv_records(path)
    with handle:
        _check_names(path, header, fields)
        position = {name: i for i, name in enumerate(header)}

        def cell(record: list[str], name: str | None):
            return record[position[name]] if name in position and position[name] < len(record) else None

        number = 0
        while True:
            number += 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield InputUnit(f"{path.name}:{number}", None, f"record is not valid CSV ({error})",
                                metadata=fields.blank())
                continue
            if len(record) != len(header):
                # The cells are misaligned, so no kept value can be trusted.
                yield InputUnit(_row_id(path, number, cell(record, fields.id)), None,
                                f"record has {len(record)} fields, the header {len(header)}", metadata=fields.blank())
                continue
            context = cell(record, fields.context) if fields.context else None
            metadata = {name: _csv_value(cell(record, name)) for name in fields.keep}
            yield _text_unit(_row_id(path, number, cell(record, fields.id)), cell(record, fields.text), fields.text,
                             context, metadata)


def _csv_value(value: str | None) -> str | None:
    """A kept CSV cell: undecodable bytes (kept as surrogates by the reader) become U+FFFD, so output stays UTF-8."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return value


def _check_names(path: Path, names: Sequence[str], fields: Fields) -> None:
    for name, option in ((fields.text, "--text-field"), (fields.context, "--context-field")):
        if name and name not in names:
            raise InputError(f"{path} has no column {name!r}; found {names}. Pass {option} with the right column.")


def check_columns(paths: Sequence[Path], fields: Fields) -> None:
    """Fail before any work when a table input lacks the text (or context) column or cannot be parsed."""
    for path in paths:
        kind = TABLE_SUFFIXES.get(path.suffix.lower())
        if kind == "parquet":
            # Imported only for Parquet: the service's corpus view reads JSONL and CSV without pyarrow.
            import pyarrow as pa

            try:
                names, _ = _parquet_batches(path, fields)
            except pa.ArrowException as error:
                raise InputError(f"Cannot read {path} as parquet: {error}") from error
            _check_names(path, names, fields)
        elif kind == "csv":
            header, _, handle = _csv_records(path)
            handle.close()
            _check_names(path, header, fields)


def read_units(paths: Sequence[Path], fields: Fields) -> Iterator[InputUnit]:
    """All input units of all files, in order."""
    sidecars: dict[Path, dict[str, dict]] = {}
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".txt":
            metadata = fields.blank()
            if fields.keep:
                if path.parent not in sidecars:
                    sidecars[path.parent] = txt_metadata(path.parent)[1]
                row = sidecars[path.parent].get(path.name, {})
                metadata = {name: row.get(name) for name in fields.keep}
            yield from _read_txt(path, metadata)
        elif TABLE_SUFFIXES[suffix] == "jsonl":
            yield from _read_jsonl(path, fields)
        elif TABLE_SUFFIXES[suffix] == "csv":
            yield from _read_csv(path, fields)
        else:
            yield from _read_parquet(path, fields)


def _jsonl_keys(path: Path) -> list[str]:
    """The keys of a JSONL file's first `JSONL_SCAN_ROWS` objects, in first-seen order."""
    keys: dict[str, None] = {}
    with path.open("rb") as handle:
        for raw in itertools.islice((line for line in handle if line.strip()), JSONL_SCAN_ROWS):
            try:
                row = json.loads(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                continue
            if isinstance(row, dict):
                keys.update(dict.fromkeys(row))
    return list(keys)


def columns_of(path: Path) -> tuple[list[str], dict]:
    """An input's column names (for .txt: its folder's metadata.csv) and the Arrow types Parquet declares."""
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.ParquetFile(path).schema_arrow
        except pa.ArrowException as error:
            raise InputError(f"Cannot read {path} as parquet: {error}") from error
        return list(schema.names), {name: schema.field(name).type for name in schema.names}
    if kind == "csv":
        header, _, handle = _csv_records(path)
        handle.close()
        return header, {}
    if kind == "jsonl":
        return _jsonl_keys(path), {}
    return txt_metadata(path.parent)[0], {}


def kept_columns(paths: Sequence[Path], fields: Fields, keep: Sequence[str], keep_all: bool) -> list[tuple[str, object]]:
    """The kept columns, in order, each with its Arrow type for Parquet output; checked before any work.

    `keep_all` keeps every input column except the id and text ones (written as `id` and
    `text` already). A column keeps its Parquet type when every input that has it is a
    Parquet file declaring that type; otherwise its type is None: a text column (JSON text
    for values that are not strings).
    """
    if not keep and not keep_all:
        return []
    names: dict[str, None] = dict.fromkeys(keep)
    types: dict[str, set] = {}
    for path in paths:
        columns, declared = columns_of(path)
        is_txt = path.suffix.lower() == ".txt"
        where = f"{path.parent / TXT_METADATA_FILE} (the kept columns of {path.name})" if is_txt else str(path)
        if keep_all:
            excluded = {"id"} if is_txt else {fields.id, fields.text}
            names.update(dict.fromkeys(name for name in columns if name not in excluded))
        for name in keep:
            if name not in columns:
                scanned = f" in its first {JSONL_SCAN_ROWS} rows" if TABLE_SUFFIXES.get(path.suffix.lower()) == "jsonl" else ""
                raise InputError(f"{where} has no column {name!r}{scanned}; found {columns}. "
                                 f"Fix the name in --keep, or add the column to the input.")
        for name in names:
            if name in columns:
                types.setdefault(name, set()).add(declared.get(name))
    clashes = [name for name in names if name in SCORED_FIELDS]
    if clashes:
        fix = "list the columns to keep with --keep" if keep_all and not set(clashes) & set(keep) else "leave them out of --keep"
        raise InputError(
            f"Kept column(s) {clashes} have the name of an output column ({', '.join(SCORED_FIELDS)}); "
            f"rename them in the input, or {fix}."
        )
    return [(name, _kept_type(types.get(name, set()))) for name in names]


def _kept_type(declared: set):
    return declared.pop() if len(declared) == 1 and None not in declared else None


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
