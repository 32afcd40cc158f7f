"""Corpus tables: stance and frames by group (an outlet, or any kept column) and period, with uncertainty.

The input is scored rows (`stanceframe score` output, or the rows the service scores for its
corpus view), each carrying the kept columns the grouping needs. For every group and period:
sentences, articles, error rows, stance shares, net stance (supportive share minus skeptical
share), the frame distribution and the share of low-confidence sentences, each with a
bootstrap confidence interval that resamples whole articles (sentences of one article are
not independent). Cells below a minimum number of sentences are marked, never dropped.

Pure Python and NumPy: the CLI report (`model/report.py`) and the service's corpus view use it,
and neither needs torch or pyarrow for it.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.labels import FRAME_LABELS, STANCE_LABELS

FREQUENCIES = ("week", "month")
UNKNOWN_DATE = "unknown date"
ALL_PERIODS = "all"
# Without --by every row is in one group of this name.
ALL_GROUPS = "all"
MISSING_GROUP = "(missing)"
DEFAULT_MIN_SENTENCES = 30
DEFAULT_RESAMPLES = 2000
BOOTSTRAP_CELLS = 4_000_000
# Stance labels whose most confident sentences the report lists.
EXAMPLE_STANCES = ("supportive", "skeptical")


class ReportError(ValueError):
    """Report options or scored inputs that cannot make a report."""


@dataclass(frozen=True)
class ReportConfig:
    """What to group by and how to measure uncertainty; checked when made."""

    by: str | None = None
    time: str | None = None
    freq: str = "week"
    min_sentences: int = DEFAULT_MIN_SENTENCES
    resamples: int = DEFAULT_RESAMPLES
    confidence: float = 0.95
    seed: int = 13
    top: int = 5
    url_column: str = "url"

    def __post_init__(self) -> None:
        problems = []
        if self.freq not in FREQUENCIES:
            problems.append(f"freq must be one of {FREQUENCIES}, found {self.freq!r}")
        if self.min_sentences < 1:
            problems.append(f"min_sentences must be at least 1, found {self.min_sentences}")
        if not 100 <= self.resamples <= 100_000:
            problems.append(f"resamples must be from 100 to 100000, found {self.resamples}")
        if not 0.5 <= self.confidence < 1:
            problems.append(f"confidence must be from 0.5 to below 1, found {self.confidence}")
        if not 0 <= self.top <= 100:
            problems.append(f"top must be from 0 to 100, found {self.top}")
        if problems:
            raise ReportError("; ".join(problems) + ".")

    @property
    def group_column(self) -> str:
        return self.by or "group"


@dataclass
class CorpusTables:
    """The report's tables (lists of flat rows, ready for CSV, Parquet or JSON) and what the reader must know."""

    config: ReportConfig
    by_group: list[dict]
    by_period: list[dict]
    top_sentences: list[dict]
    models: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return ", ".join(self.models)

    def as_dict(self) -> dict:
        return {"by_group": self.by_group, "by_period": self.by_period, "top_sentences": self.top_sentences,
                "models": self.models, "warnings": self.warnings}


def parse_date(value: object) -> datetime.date | None:
    """The calendar date of an ISO 8601 date or date-time (its own offset's date), or None."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None


def period_of(day: datetime.date | None, freq: str) -> tuple[str, str | None]:
    """(label, first day in ISO format) of the week (ISO, from Monday) or month holding `day`."""
    if day is None:
        return UNKNOWN_DATE, None
    if freq == "month":
        return f"{day.year:04d}-{day.month:02d}", day.replace(day=1).isoformat()
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}", (day - datetime.timedelta(days=day.weekday())).isoformat()


def group_of(row: dict, by: str | None) -> str:
    if not by:
        return ALL_GROUPS
    value = row.get(by)
    if value is None or value == "":
        return MISSING_GROUP
    return value if isinstance(value, str) else json.dumps(value, default=str)


def share_columns() -> list[tuple[str, str, int]]:
    """(column prefix, label, index in the count matrix) of every share the tables report."""
    columns = [("stance_share", label, 1 + i) for i, label in enumerate(STANCE_LABELS)]
    columns += [("frame_share", label, 1 + len(STANCE_LABELS) + i) for i, label in enumerate(FRAME_LABELS)]
    return columns


LOW_CONFIDENCE_INDEX = 1 + len(STANCE_LABELS) + len(FRAME_LABELS)


def article_counts(rows: Sequence[dict]) -> np.ndarray:
    """One row per article: sentences, sentences per stance label, per frame label, low-confidence sentences."""
    stance_index = {label: 1 + i for i, label in enumerate(STANCE_LABELS)}
    frame_index = {label: 1 + len(STANCE_LABELS) + i for i, label in enumerate(FRAME_LABELS)}
    articles: dict[str, int] = {}
    article, stance, frame, low = [], [], [], []
    for row in rows:
        article.append(articles.setdefault(row["id"], len(articles)))
        stance.append(stance_index[row["stance"]])
        frame.append(frame_index[row["frame"]])
        low.append(bool(row.get("low_confidence")))
    counts = np.zeros((len(articles), LOW_CONFIDENCE_INDEX + 1))
    np.add.at(counts, (article, 0), 1)
    np.add.at(counts, (article, stance), 1)
    np.add.at(counts, (article, frame), 1)
    np.add.at(counts, (article, LOW_CONFIDENCE_INDEX), low)
    return counts


def cell_statistics(counts: np.ndarray, config: ReportConfig) -> dict:
    """Shares, net stance and their article-bootstrap intervals for one group and period.

    Each resample draws as many articles as the cell has, with replacement, and recomputes every share from the drawn articles'
    sentences; the interval is the percentile interval. With fewer than two articles
    there is nothing to resample, so the interval is unknown (None), not zero-width.
    """
    sentences = float(counts[:, 0].sum()) if len(counts) else 0.0
    point = counts.sum(axis=0) / sentences if sentences else np.full(counts.shape[1], np.nan)
    low = high = np.full(counts.shape[1], np.nan)
    net_low = net_high = np.nan
    supportive, skeptical = 1 + STANCE_LABELS.index("supportive"), 1 + STANCE_LABELS.index("skeptical")
    if len(counts) >= 2:
        rng = np.random.default_rng(config.seed)
        resampled = np.empty((config.resamples, counts.shape[1]))
        # Weights of at most BOOTSTRAP_CELLS articles x resamples at a time: memory stays flat for large groups.
        step = max(1, BOOTSTRAP_CELLS // len(counts))
        for start in range(0, config.resamples, step):
            size = min(step, config.resamples - start)
            # Draw articles with replacement; each resample's weights are how often each article was drawn.
            drawn = rng.integers(0, len(counts), size=(size, len(counts))) + np.arange(size)[:, None] * len(counts)
            weights = np.bincount(drawn.ravel(), minlength=size * len(counts)).reshape(size, len(counts))
            resampled[start:start + size] = weights @ counts
        shares = resampled / resampled[:, [0]]
        tail = (1 - config.confidence) / 2 * 100
        low, high = np.percentile(shares, [tail, 100 - tail], axis=0)
        net_low, net_high = np.percentile(shares[:, supportive] - shares[:, skeptical], [tail, 100 - tail])
    values = {}
    for prefix, label, index in share_columns():
        values[f"{prefix}_{label}"] = _number(point[index])
        values[f"{prefix}_{label}_low"] = _number(low[index])
        values[f"{prefix}_{label}_high"] = _number(high[index])
    values["net_stance"] = _number(point[supportive] - point[skeptical])
    values["net_stance_low"], values["net_stance_high"] = _number(net_low), _number(net_high)
    values["low_confidence_share"] = _number(point[LOW_CONFIDENCE_INDEX])
    values["low_confidence_share_low"] = _number(low[LOW_CONFIDENCE_INDEX])
    values["low_confidence_share_high"] = _number(high[LOW_CONFIDENCE_INDEX])
    return values


def _number(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


def build_tables(rows: Iterable[dict], config: ReportConfig) -> CorpusTables:
    """The by-group, by-group-and-period and example-sentence tables of scored rows."""
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    errors: Counter = Counter()
    period_start: dict[str, str | None] = {ALL_PERIODS: None}
    models: Counter = Counter()
    unknown_dates = 0
    undated_articles: set = set()
    seen_columns: set[str] = set()
    total = 0
    for row in rows:
        total += 1
        if total == 1:
            seen_columns = set(row)
        group = group_of(row, config.by)
        period = ALL_PERIODS
        if config.time:
            day = parse_date(row.get(config.time))
            period, start = period_of(day, config.freq)
            period_start[period] = start
            if day is None:
                unknown_dates += 1
                undated_articles.add(row.get("id"))
        if row.get("model"):
            models[row["model"]] += 1
        if row.get("error") or row.get("stance") is None:
            errors[(group, period)] += 1
            if config.time:
                errors[(group, ALL_PERIODS)] += 1
            cells.setdefault((group, period), [])  # a group or period whose every row failed is still listed
            continue
        cells[(group, period)].append(row)
    if not total:
        raise ReportError("The scored inputs hold no rows; score some articles first (stanceframe score).")
    for column, option in ((config.by, "--by"), (config.time, "--time")):
        if column and column not in seen_columns:
            raise ReportError(
                f"The scored rows have no column {column!r} (found {sorted(seen_columns)}). Score with "
                f"`stanceframe score ... --keep {column}` or pass {option} with a kept column."
            )

    warnings = []
    if unknown_dates:
        warnings.append(f"{unknown_dates} rows (from {len(undated_articles)} article(s)) have no ISO date in {config.time!r}: "
                        f"they are counted under '{UNKNOWN_DATE}', not dropped.")
    if len(models) > 1:
        warnings.append(f"The rows were scored by {len(models)} models ({', '.join(sorted(models))}); "
                        "their shares are not comparable.")
    error_total = sum(n for (_, period), n in errors.items() if period == ALL_PERIODS)
    if error_total:
        warnings.append(f"{error_total} error rows (input units that could not be scored) are counted per cell "
                        "in error_rows and left out of every share.")

    groups = sorted({group for group, _ in cells},
                    key=lambda g: (-sum(len(v) for (h, _), v in cells.items() if h == g), g))
    model = ", ".join(sorted(models))
    by_group, by_period = [], []
    for group in groups:
        group_rows = [row for (h, _), v in cells.items() if h == group for row in v]
        by_group.append(_table_row(config, group, ALL_PERIODS, None, group_rows, errors[(group, ALL_PERIODS)], model))
        if config.time:
            periods = sorted({p for (h, p) in cells if h == group},
                             key=lambda p: (p == UNKNOWN_DATE, period_start.get(p) or "", p))
            for period in periods:
                by_period.append(_table_row(config, group, period, period_start.get(period),
                                            cells[(group, period)], errors[(group, period)], model))
    if not config.time:
        by_period = [dict(row) for row in by_group]
    return CorpusTables(
        config=config, by_group=by_group, by_period=by_period,
        top_sentences=top_sentences(cells, groups, config, model), models=sorted(models), warnings=warnings,
    )


def _table_row(config: ReportConfig, group: str, period: str, start: str | None, rows: list[dict],
               error_rows: int, model: str) -> dict:
    counts = article_counts(rows)
    sentences = int(counts[:, 0].sum()) if len(counts) else 0
    return {
        config.group_column: group, "period": period, "period_start": start,
        "sentences": sentences, "articles": len(counts), "error_rows": error_rows,
        "small_sample": sentences < config.min_sentences,
        **cell_statistics(counts, config),
        "resamples": config.resamples, "confidence": config.confidence, "model": model,
    }


def top_sentences(cells: dict, groups: list[str], config: ReportConfig, model: str) -> list[dict]:
    """The `config.top` most confident supportive and skeptical sentences of each group."""
    table = []
    for group in groups:
        group_rows = [row for (h, _), v in cells.items() if h == group for row in v]
        for stance in EXAMPLE_STANCES:
            chosen = sorted((row for row in group_rows if row["stance"] == stance),
                            key=lambda row: -float(row["stance_scores"][stance]))[: config.top]
            for rank, row in enumerate(chosen, start=1):
                table.append({
                    config.group_column: group, "stance": stance, "rank": rank, "id": row["id"],
                    "sentence": row.get("sentence"), "text": row["text"],
                    "probability": round(float(row["stance_scores"][stance]), 6), "frame": row["frame"],
                    "low_confidence": bool(row.get("low_confidence")),
                    "date": _text(row.get(config.time)) if config.time else None,
                    "url": _text(row.get(config.url_column)), "model": model,
                })
    return table


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value if isinstance(value, str) else json.dumps(value, default=str)


def read_scored(paths: Sequence[str | Path]) -> list[dict]:
    """The rows of `stanceframe score` outputs (.jsonl, .csv or .parquet), scores as label -> probability maps."""
    rows: list[dict] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise ReportError(f"Scored input {path} does not exist.")
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as error:
                            raise ReportError(f"{path}:{number} is not JSON ({error.msg}): is it a scored file?") from error
        elif suffix == ".csv":
            import csv

            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    rows.append(_from_csv(row))
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            rows.extend(pq.read_table(path).to_pylist())
        else:
            raise ReportError(f"Cannot read {path}: expected a .jsonl, .csv or .parquet output of stanceframe score.")
    missing = {"id", "stance", "stance_scores", "frame", "error"} - set(rows[0] if rows else ())
    if rows and missing:
        raise ReportError(f"The scored inputs lack the columns {sorted(missing)}: pass outputs of stanceframe score.")
    return rows


def _from_csv(row: dict) -> dict:
    """A CSV row with the types of the score columns back (CSV holds them as text)."""
    for key in ("stance_scores", "frame_scores"):
        row[key] = json.loads(row[key]) if row.get(key) else None
    for key in ("low_confidence", "truncated"):
        row[key] = {"true": True, "false": False}.get(row.get(key) or "")
    for key in ("stance", "frame", "error", "text"):
        row[key] = row.get(key) or None
    return row
