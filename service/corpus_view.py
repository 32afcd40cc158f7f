"""The corpus view's work: score an uploaded JSONL or CSV of articles and build the report's tables and charts.

The upload is scored by batch scoring's own code (`model.batch_io` reads it, `model.score.score_chunk`
makes the rows, error rows included), with the service's scheduler instead of a direct
predictor call, so the page's numbers are the CLI's. The tables and the SVG charts are
`model.corpus` and `model.report`'s, the same as `stanceframe report`'s.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.batch_io import Fields, InputError, check_columns, columns_of, kept_columns, read_units
from model.corpus import ReportConfig, build_tables
from model.report import charts, render_html
from model.score import score_chunk


class CorpusTooLarge(ValueError):
    """The upload holds more sentences than the corpus view scores."""


@dataclass
class ScheduledPredictor:
    """What `score_chunk` needs of a predictor, with inference through the service's scheduler (from a thread)."""

    predictor: object
    scheduler: object
    loop: asyncio.AbstractEventLoop
    deadline: float
    max_sentences: int

    @property
    def model_tag(self) -> str:
        return self.predictor.model_tag

    @property
    def config(self):
        return self.predictor.config

    def predict(self, texts, contexts):
        if len(texts) > self.max_sentences:
            raise CorpusTooLarge(
                f"The upload holds {len(texts)} sentences; the corpus view scores at most {self.max_sentences}. "
                "Score larger corpora with `stanceframe score --keep ...` and `stanceframe report`."
            )
        future = asyncio.run_coroutine_threadsafe(self.scheduler.predict(texts, contexts, self.deadline), self.loop)
        return future.result()


def scored_rows(data: str, input_format: str, fields: Fields, config: ReportConfig, predictor: ScheduledPredictor,
                url_column: str) -> list[dict]:
    """Every output row of the upload (one per sentence, or an error row), with the grouping columns kept."""
    with tempfile.TemporaryDirectory(prefix="stanceframe-corpus-") as folder:
        path = Path(folder) / f"upload.{input_format}"
        path.write_text(data, encoding="utf-8", errors="surrogatepass")
        try:
            check_columns([path], fields)
            keep = [name for name in (config.by, config.time) if name]
            if url_column not in keep and url_column in columns_of(path)[0]:
                keep.append(url_column)
            kept = kept_columns([path], fields, keep, keep_all=False)
        except InputError as error:
            # The messages name the temporary file; the user knows it as the upload.
            message = str(error).replace(str(path), "The upload")
            for option, field in (("--text-field", "text_field"), ("--keep", "by and time")):
                message = message.replace(option, field)
            raise InputError(message) from error
        units = list(read_units([path], Fields(fields.text, fields.id, keep=tuple(name for name, _ in kept))))
    if not units:
        raise InputError("The upload holds no rows: send one article per JSONL line or CSV record.")
    rows, _ = score_chunk(units, predictor, "article")
    return rows


def corpus_report(rows: list[dict], config: ReportConfig) -> dict:
    tables = build_tables(rows, config)
    return {**tables.as_dict(), "charts": charts(tables), "report_html": render_html(tables),
            "sentences": sum(row["sentences"] for row in tables.by_group),
            "articles": sum(row["articles"] for row in tables.by_group),
            "error_rows": sum(row["error_rows"] for row in tables.by_group)}
