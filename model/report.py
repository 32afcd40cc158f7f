"""`stanceframe report`: a self-contained HTML report (and CSV/Parquet tables) of scored articles by group and period.

The charts are static SVG written here, so the report opens offline, loads nothing and runs
no script; the service's corpus view shows the very same SVG (`charts`) and tables. The
numbers come from `model/corpus.py`.

Why no plotting library: the service renders these charts too, and the Bento is lean and
torch-free; three small chart types (lines with interval bands, dots with whiskers, bars
with whiskers) are a few dozen lines of SVG, where matplotlib would add tens of MB.
"""

from __future__ import annotations

import argparse
import datetime
import html
import logging
import math
from pathlib import Path

from model.corpus import (
    DEFAULT_MIN_SENTENCES,
    DEFAULT_RESAMPLES,
    FREQUENCIES,
    UNKNOWN_DATE,
    CorpusTables,
    ReportConfig,
    ReportError,
    build_tables,
    read_scored,
)
from model.labels import FRAME_LABELS, STANCE_LABELS

logger = logging.getLogger(__name__)

STANCE_COLOURS = {"supportive": "#2e7d4f", "skeptical": "#b83a32", "neutral": "#8a93a6"}
FRAME_COLOURS = ["#4f6fb8", "#7a5cb8", "#c27c0e", "#3a8fa3", "#b8527a", "#5f8f3a", "#a0522d", "#8a93a6"]
TABLE_NAMES = ("by_group", "by_period", "top_sentences")
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Liberation Sans, DejaVu Sans, sans-serif"'


def escape(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def interval(low: float | None, high: float | None, formatter=percent) -> str:
    return "[n/a]" if low is None or high is None else f"[{formatter(low)}, {formatter(high)}]"


def svg_open(width: int, height: int, title: str, name: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{name}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" {FONT} font-size="12"><title>{escape(title)}</title>')


def stance_over_time_chart(tables: CorpusTables) -> str:
    """Per group, the share of each stance by period, a band for its interval; hollow points mark small samples."""
    group_column = tables.config.group_column
    groups = [row[group_column] for row in tables.by_group]
    starts = {row["period"]: row["period_start"] for row in tables.by_period}
    periods = sorted(starts, key=lambda p: (p == UNKNOWN_DATE, starts[p] or "", p))
    panel_w, panel_h, left, top, bottom = 300, 170, 36, 22, 46
    columns = max(1, min(3, len(groups)))
    rows_needed = math.ceil(len(groups) / columns)
    width, height = columns * (panel_w + 20) + 10, rows_needed * (panel_h + top + bottom) + 30
    parts = [svg_open(width, height, "Stance share over time per group, with confidence bands", "stance_over_time")]
    parts.append(_legend([(label, STANCE_COLOURS[label]) for label in STANCE_LABELS], 10, 14)
                 + f'<text x="{width - 10}" y="14" text-anchor="end" fill="#5b6476">hollow point: fewer than '
                   f'{tables.config.min_sentences} sentences</text>')
    for number, group in enumerate(groups):
        x0 = 10 + (number % columns) * (panel_w + 20)
        y0 = 30 + (number // columns) * (panel_h + top + bottom)
        cells = {row["period"]: row for row in tables.by_period if row[group_column] == group}
        plot_w, plot_h = panel_w - left - 8, panel_h

        def x_of(index: int) -> float:
            return x0 + left + (plot_w / 2 if len(periods) == 1 else index * plot_w / (len(periods) - 1))

        def y_of(share: float) -> float:
            return y0 + top + plot_h * (1 - share)

        parts.append(f'<g data-group="{escape(group)}"><text x="{x0}" y="{y0 + 14}" font-weight="600">'
                     f'{escape(group)}</text>')
        for tick in (0, 0.5, 1):
            parts.append(f'<line x1="{x0 + left}" x2="{x0 + left + plot_w}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" '
                         f'stroke="#e3e7ee"/><text x="{x0 + left - 4}" y="{y_of(tick) + 4:.1f}" text-anchor="end" '
                         f'fill="#5b6476">{percent(tick)}</text>')
        for label in STANCE_LABELS:
            colour = STANCE_COLOURS[label]
            key = f"stance_share_{label}"
            present = [(i, cells[p]) for i, p in enumerate(periods) if p in cells and cells[p][key] is not None]
            band = [(i, c) for i, c in present if c[f"{key}_low"] is not None]
            if len(band) >= 2:
                upper = " ".join(f"{x_of(i):.1f},{y_of(c[f'{key}_high']):.1f}" for i, c in band)
                lower = " ".join(f"{x_of(i):.1f},{y_of(c[f'{key}_low']):.1f}" for i, c in reversed(band))
                parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.13" stroke="none"/>')
            if len(present) >= 2:
                points = " ".join(f"{x_of(i):.1f},{y_of(c[key]):.1f}" for i, c in present)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for i, cell in present:
                if cell[f"{key}_low"] is not None:
                    parts.append(f'<line x1="{x_of(i):.1f}" x2="{x_of(i):.1f}" y1="{y_of(cell[key + "_low"]):.1f}" '
                                 f'y2="{y_of(cell[key + "_high"]):.1f}" stroke="{colour}" stroke-opacity="0.5"/>')
                fill = "#ffffff" if cell["small_sample"] else colour
                parts.append(
                    f'<circle class="point" cx="{x_of(i):.1f}" cy="{y_of(cell[key]):.1f}" r="3.5" fill="{fill}" '
                    f'stroke="{colour}" stroke-width="1.5" data-small="{str(cell["small_sample"]).lower()}">'
                    f'<title>{escape(group)} {escape(cell["period"])}: {label} {percent(cell[key])} '
                    f'{interval(cell[key + "_low"], cell[key + "_high"])}, {cell["sentences"]} sentences, '
                    f'{cell["articles"]} articles</title></circle>')
        step = max(1, math.ceil(len(periods) / 6))
        for i, period in enumerate(periods):
            if i % step == 0 or i == len(periods) - 1:
                parts.append(f'<text x="{x_of(i):.1f}" y="{y0 + top + plot_h + 16}" text-anchor="middle" '
                             f'font-size="10" fill="#5b6476">{"unknown" if period == UNKNOWN_DATE else escape(period)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def net_stance_chart(tables: CorpusTables) -> str:
    """Net stance of each group (all periods) as a dot with its confidence interval, on -1 .. +1."""
    group_column = tables.config.group_column
    label_w, plot_w, row_h, top = 190, 420, 28, 34
    width, height = label_w + plot_w + 150, top + row_h * len(tables.by_group) + 26

    def x_of(value: float) -> float:
        return label_w + (value + 1) / 2 * plot_w

    parts = [svg_open(width, height, "Net stance per group (supportive minus skeptical share) with confidence intervals",
                      "net_stance")]
    for tick in (-1, -0.5, 0, 0.5, 1):
        parts.append(f'<line x1="{x_of(tick):.1f}" x2="{x_of(tick):.1f}" y1="{top - 6}" y2="{height - 22}" '
                     f'stroke="{"#8a93a6" if tick == 0 else "#e3e7ee"}"/><text x="{x_of(tick):.1f}" y="{height - 8}" '
                     f'text-anchor="middle" fill="#5b6476">{tick:+g}</text>')
    parts.append(f'<text x="{label_w}" y="16" fill="#5b6476">← more skeptical</text>'
                 f'<text x="{label_w + plot_w}" y="16" text-anchor="end" fill="#5b6476">more supportive →</text>')
    for number, row in enumerate(tables.by_group):
        y = top + number * row_h + row_h / 2
        value, low, high = row["net_stance"], row["net_stance_low"], row["net_stance_high"]
        colour = STANCE_COLOURS["supportive"] if (value or 0) > 0 else STANCE_COLOURS["skeptical"] if (value or 0) < 0 else "#5b6476"
        parts.append(f'<g class="net" data-group="{escape(row[group_column])}" data-value="{value}">'
                     f'<text x="{label_w - 10}" y="{y + 4:.1f}" text-anchor="end">{escape(row[group_column])}</text>')
        if low is not None:
            parts.append(f'<line x1="{x_of(low):.1f}" x2="{x_of(high):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                         f'stroke-width="2"/><line x1="{x_of(low):.1f}" x2="{x_of(low):.1f}" y1="{y - 5:.1f}" '
                         f'y2="{y + 5:.1f}" stroke="{colour}"/><line x1="{x_of(high):.1f}" x2="{x_of(high):.1f}" '
                         f'y1="{y - 5:.1f}" y2="{y + 5:.1f}" stroke="{colour}"/>')
        if value is not None:
            fill = "#ffffff" if row["small_sample"] else colour
            parts.append(f'<circle class="point" cx="{x_of(value):.1f}" cy="{y:.1f}" r="5" fill="{fill}" stroke="{colour}" '
                         f'stroke-width="2" data-small="{str(row["small_sample"]).lower()}"><title>'
                         f'{escape(row[group_column])}: net stance {signed(value)} {interval(low, high, signed)}, '
                         f'{row["sentences"]} sentences, {row["articles"]} articles</title></circle>')
        note = f'{signed(value)} {interval(low, high, signed)}' + (" small sample" if row["small_sample"] else "")
        parts.append(f'<text x="{label_w + plot_w + 8}" y="{y + 4:.1f}" font-size="11" fill="#5b6476">{escape(note)}'
                     f'</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def frame_mix_chart(tables: CorpusTables) -> str:
    """Per group, the share of each frame as a bar with its confidence interval."""
    group_column = tables.config.group_column
    groups = tables.by_group
    label_w, bar_w, row_h, panel_gap, top = 112, 150, 17, 24, 28
    columns = max(1, min(4, len(groups)))
    panel_w = label_w + bar_w + 40
    panel_h = top + row_h * len(FRAME_LABELS) + 10
    width = columns * (panel_w + panel_gap)
    height = math.ceil(len(groups) / columns) * panel_h + 6
    parts = [svg_open(width, height, "Frame mix per group with confidence intervals", "frame_mix")]
    for number, row in enumerate(groups):
        x0 = (number % columns) * (panel_w + panel_gap)
        y0 = (number // columns) * panel_h
        small = " (small sample)" if row["small_sample"] else ""
        parts.append(f'<g data-group="{escape(row[group_column])}"><text x="{x0}" y="{y0 + 16}" font-weight="600">'
                     f'{escape(row[group_column])}{small}</text>')
        for index, label in enumerate(FRAME_LABELS):
            key = f"frame_share_{label}"
            y = y0 + top + index * row_h
            share = row[key] or 0.0
            parts.append(f'<text x="{x0 + label_w - 6}" y="{y + 11}" text-anchor="end" font-size="11">'
                         f'{escape(label.replace("_", " "))}</text>'
                         f'<rect x="{x0 + label_w}" y="{y + 2}" width="{bar_w}" height="11" fill="#eef1f6"/>'
                         f'<rect class="bar" x="{x0 + label_w}" y="{y + 2}" width="{share * bar_w:.1f}" height="11" '
                         f'fill="{FRAME_COLOURS[index]}" data-value="{share}"><title>{escape(row[group_column])}: '
                         f'{escape(label)} {percent(row[key])} {interval(row[key + "_low"], row[key + "_high"])}'
                         f'</title></rect>')
            if row[f"{key}_low"] is not None:
                low, high = x0 + label_w + row[key + "_low"] * bar_w, x0 + label_w + row[key + "_high"] * bar_w
                parts.append(f'<line x1="{low:.1f}" x2="{high:.1f}" y1="{y + 7.5}" y2="{y + 7.5}" stroke="#1d2330" '
                             f'stroke-width="1.2"/>')
            parts.append(f'<text x="{x0 + label_w + bar_w + 4}" y="{y + 11}" font-size="10" fill="#5b6476">'
                         f'{percent(row[key])}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _legend(entries: list[tuple[str, str]], x: int, y: int) -> str:
    parts = []
    for label, colour in entries:
        parts.append(f'<rect x="{x}" y="{y - 9}" width="14" height="10" fill="{colour}"/>'
                     f'<text x="{x + 18}" y="{y}">{escape(label)}</text>')
        x += 26 + 7 * len(label)
    return "".join(parts)


def charts(tables: CorpusTables) -> dict[str, str]:
    """The report's charts as SVG documents, by name (the CLI report and the service's corpus view show these)."""
    return {"stance_over_time": stance_over_time_chart(tables), "net_stance": net_stance_chart(tables),
            "frame_mix": frame_mix_chart(tables)}


STYLE = """
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", sans-serif;
       color: #1d2330; background: #f4f6f9; line-height: 1.45; }
header { background: #1f2a44; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 1.35rem; } header p { margin: 2px 0 0; color: #c9d2e6; font-size: .9rem; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 24px 40px; }
section { background: #fff; border: 1px solid #d9dee7; border-radius: 10px; padding: 14px 18px; margin: 16px 0;
          overflow-x: auto; }
h2 { font-size: 1.05rem; margin: 0 0 8px; } h3 { font-size: .95rem; margin: 14px 0 6px; }
.note { color: #5b6476; font-size: .86rem; } .warning { color: #8a4b00; }
table { border-collapse: collapse; font-size: .84rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e3e7ee; padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f6f8fb; position: sticky; top: 0; } td.text, th.text { text-align: left; }
td .ci { color: #5b6476; font-size: .78rem; white-space: nowrap; }
tr.small td { background: #fff8e1; } .badge { background: #fff3cd; border: 1px dashed #8a6d00; border-radius: 6px;
  padding: 0 5px; font-size: .74rem; color: #5e4a00; white-space: nowrap; }
svg.chart { max-width: 100%; height: auto; }
"""


def share_cell(row: dict, key: str, formatter=percent) -> str:
    return (f'<td>{formatter(row[key])}<br><span class="ci">{interval(row[key + "_low"], row[key + "_high"], formatter)}'
            f'</span></td>')


def summary_table(rows: list[dict], config: ReportConfig, with_period: bool) -> str:
    group_column = config.group_column
    head = [escape(group_column)] + (["period"] if with_period else []) + [
        "sentences", "articles", "errors", *STANCE_LABELS, "net stance", "low confidence",
        *(label.replace("_", " ") for label in FRAME_LABELS)]
    parts = ["<table><thead><tr>", "".join(f'<th class="{"text" if i < 1 + with_period else ""}">{h}</th>'
                                            for i, h in enumerate(head)), "</tr></thead><tbody>"]
    for row in rows:
        badge = f' <span class="badge">under {config.min_sentences} sentences</span>' if row["small_sample"] else ""
        parts.append(f'<tr class="{"small" if row["small_sample"] else ""}"><td class="text">{escape(row[group_column])}'
                     f'{"" if with_period else badge}</td>')
        if with_period:
            parts.append(f'<td class="text">{escape(row["period"])}{badge}</td>')
        parts.append(f'<td>{row["sentences"]}</td><td>{row["articles"]}</td><td>{row["error_rows"]}</td>')
        parts.extend(share_cell(row, f"stance_share_{label}") for label in STANCE_LABELS)
        parts.append(share_cell(row, "net_stance", signed) + share_cell(row, "low_confidence_share"))
        parts.extend(share_cell(row, f"frame_share_{label}") for label in FRAME_LABELS)
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def article_link(row: dict) -> str:
    url = row.get("url")
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return f'<a href="{escape(url)}" rel="noopener noreferrer">{escape(row["id"])}</a>'
    return f'<code>{escape(row["id"])}</code>'


def examples_tables(tables: CorpusTables) -> str:
    group_column = tables.config.group_column
    parts = []
    for group_row in tables.by_group:
        group = group_row[group_column]
        parts.append(f"<h3>{escape(group)}</h3>")
        for stance in ("supportive", "skeptical"):
            rows = [r for r in tables.top_sentences if r[group_column] == group and r["stance"] == stance]
            if not rows:
                parts.append(f'<p class="note">No {stance} sentence.</p>')
                continue
            parts.append(f'<table data-stance="{stance}"><thead><tr><th>#</th><th class="text">{stance} sentence</th>'
                         f'<th>p({stance})</th><th class="text">frame</th><th class="text">article</th>'
                         f'<th class="text">date</th></tr></thead><tbody>')
            for row in rows:
                flag = ' <span class="badge">low confidence</span>' if row["low_confidence"] else ""
                parts.append(f'<tr><td>{row["rank"]}</td><td class="text">{escape(row["text"])}{flag}</td>'
                             f'<td>{percent(row["probability"])}</td><td class="text">{escape(row["frame"])}</td>'
                             f'<td class="text">{article_link(row)}</td><td class="text">{escape(row["date"] or "")}</td></tr>')
            parts.append("</tbody></table>")
    return "".join(parts)


def render_html(tables: CorpusTables, title: str = "StanceFrame corpus report") -> str:
    """The whole report: one HTML file with inline CSS and SVG, no script and nothing loaded from elsewhere."""
    config = tables.config
    rendered = charts(tables)
    grouping = f"by {escape(config.by)}" if config.by else "the whole corpus"
    over_time = f", per {config.freq} of {escape(config.time)}" if config.time else ""
    total_sentences = sum(row["sentences"] for row in tables.by_group)
    total_articles = sum(row["articles"] for row in tables.by_group)
    warnings = "".join(f'<p class="note warning">⚠ {escape(w)}</p>' for w in tables.warnings)
    method = (
        f"Shares count sentences by their predicted label. Net stance = supportive share − skeptical share (−1 to +1). "
        f"Intervals: {round(config.confidence * 100)}% percentile bootstrap, {config.resamples} resamples of whole "
        f"articles (seed {config.seed}); n/a where a cell has fewer than 2 articles (nothing to resample). Groups or periods with fewer than "
        f"{config.min_sentences} sentences are marked (hollow points, highlighted rows), not hidden. Error rows "
        f"are counted, never part of a share. Predictions are a model's, with its errors: see the model card."
    )
    period_section = (
        f'<section><h2>By {escape(config.group_column)} and {config.freq}</h2>'
        f'{summary_table(tables.by_period, config, True)}</section>' if config.time else "")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>Stance toward China's peace plan and framing, {grouping}{over_time}. "
        f"{total_sentences} sentences from {total_articles} articles. Model <code>{escape(tables.model)}</code>. "
        f"Made {datetime.date.today().isoformat()}.</p></header><main>"
        f'<section><h2>How to read this</h2><p class="note">{method}</p>{warnings}</section>'
        f'<section><h2>Stance share over time</h2>{rendered["stance_over_time"]}</section>'
        f'<section><h2>Net stance per {escape(config.group_column)}</h2>{rendered["net_stance"]}</section>'
        f'<section><h2>Frame mix per {escape(config.group_column)}</h2>{rendered["frame_mix"]}</section>'
        f'<section><h2>By {escape(config.group_column)}</h2>{summary_table(tables.by_group, config, False)}</section>'
        f"{period_section}"
        f'<section><h2>Most confident supportive and skeptical sentences per {escape(config.group_column)}</h2>'
        f"{examples_tables(tables)}</section>"
        "</main></body></html>\n"
    )


def write_tables(tables: CorpusTables, folder: Path) -> list[Path]:
    """Each table as CSV and Parquet in `folder` (one row per group and period; the model tag on every row)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLE_NAMES:
        rows = getattr(tables, name)
        table = pa.Table.from_pylist(rows) if rows else pa.table({})
        for suffix in ("csv", "parquet"):
            path = folder / f"{name}.{suffix}"
            if suffix == "csv":
                pa_csv.write_csv(table, path)
            else:
                pq.write_table(table, path)
            written.append(path)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stanceframe report",
        description="Stance and frames of scored articles by group (e.g. outlet) and period, with bootstrap "
                    "confidence intervals: a self-contained HTML report and CSV/Parquet tables.",
        epilog=(
            "Examples:\n"
            "  stanceframe score articles.jsonl --keep outlet,date,url --output scored.parquet\n"
            "  stanceframe report scored.parquet --by outlet --time date --freq month --output report.html\n"
            "  stanceframe report a.jsonl b.jsonl --by outlet --output report.html --tables tables/\n"
            "The grouping and date columns must have been kept when scoring (stanceframe score --keep)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="SCORED", help="Outputs of stanceframe score (.jsonl, .csv, .parquet).")
    parser.add_argument("--output", "-o", required=True, metavar="HTML", help="The report to write (.html).")
    parser.add_argument("--by", default=None, help="Group by this kept column (e.g. outlet); default: one group.")
    parser.add_argument("--time", default=None, help="Kept column with each article's ISO date or date-time.")
    parser.add_argument("--freq", choices=FREQUENCIES, default="week", help="Period of --time (default: week).")
    parser.add_argument("--min-sentences", type=int, default=DEFAULT_MIN_SENTENCES,
                        help=f"Mark groups and periods with fewer sentences (default: {DEFAULT_MIN_SENTENCES}).")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                        help=f"Bootstrap resamples of articles (default: {DEFAULT_RESAMPLES}).")
    parser.add_argument("--confidence", type=float, default=0.95, help="Interval level (default: 0.95).")
    parser.add_argument("--top", type=int, default=5,
                        help="Most confident supportive and skeptical sentences listed per group (default: 5).")
    parser.add_argument("--url-column", default="url", help="Kept column linking each article (default: url).")
    parser.add_argument("--tables", type=Path, default=None, metavar="DIR",
                        help="Also write by_group, by_period and top_sentences as CSV and Parquet into DIR.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing report.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output)
    try:
        config = ReportConfig(by=args.by, time=args.time, freq=args.freq, min_sentences=args.min_sentences,
                              resamples=args.resamples, confidence=args.confidence, top=args.top,
                              url_column=args.url_column)
        if output.exists() and not args.overwrite:
            raise ReportError(f"{output} exists; pass --overwrite to replace it, or choose another output file.")
        if any(Path(p).resolve() == output.resolve() for p in args.inputs):
            raise ReportError(f"The output {output} is one of the inputs; choose another output file.")
        tables = build_tables(read_scored(args.inputs), config)
    except ReportError as error:
        logger.error("%s", error)
        return 2
    for warning in tables.warnings:
        logger.warning("%s", warning)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_html(tables), encoding="utf-8")
    if args.tables:
        write_tables(tables, args.tables)
    logger.info("Wrote %s (%d groups, %d group-periods)%s.", output, len(tables.by_group), len(tables.by_period),
                f" and the tables in {args.tables}" if args.tables else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
