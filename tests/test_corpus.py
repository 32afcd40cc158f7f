"""Corpus tables (model/corpus.py) against hand-computed cases, and the HTML report (model/report.py)."""

from __future__ import annotations

import json
import re

import pytest

from model.corpus import (
    MISSING_GROUP,
    UNKNOWN_DATE,
    ReportConfig,
    ReportError,
    build_tables,
    parse_date,
    period_of,
    read_scored,
)
from model.labels import FRAME_LABELS, STANCE_LABELS
from model.report import charts, main, render_html
from tests.conftest import PROJECT_DIR, read_jsonl, write_jsonl

TAG = "stanceframe:test"


def approx(value):
    """The tables round shares to 6 decimals."""
    return pytest.approx(value, abs=1e-6)


def sentence(article: str, stance: str, outlet: str | None = "X", date: object = "2023-02-20", *,
             frame: str = "diplomacy", low: bool = False, p: float = 0.8, index: int = 0) -> dict:
    others = (1 - p) / (len(STANCE_LABELS) - 1)
    return {
        "id": article, "sentence": index, "text": f"{article} sentence {index} ({stance}).", "stance": stance,
        "stance_scores": {label: p if label == stance else others for label in STANCE_LABELS},
        "frame": frame, "frame_scores": {label: 1 / len(FRAME_LABELS) for label in FRAME_LABELS},
        "low_confidence": low, "truncated": False, "model": TAG, "error": None, "outlet": outlet, "date": date,
    }


def error_row(article: str, outlet: str, date: str) -> dict:
    return {"id": article, "sentence": None, "text": None, "stance": None, "stance_scores": None, "frame": None,
            "frame_scores": None, "low_confidence": None, "truncated": None, "model": TAG,
            "error": "empty text", "outlet": outlet, "date": date}


def small_corpus() -> list[dict]:
    """X: a1 (2 supportive, 1 neutral, 1 skeptical) and a2 (1 skeptical, 1 neutral) in 2023-W08, plus an error row;
    Y: a3 (1 supportive) in 2023-W09 and a4 (1 skeptical) with no usable date."""
    return [
        sentence("a1", "supportive", p=0.9, index=0), sentence("a1", "supportive", p=0.7, index=1),
        sentence("a1", "neutral", low=True, frame="economy", index=2), sentence("a1", "skeptical", p=0.6, index=3),
        sentence("a2", "skeptical", date="2023-02-22T09:30:00+01:00", p=0.95, index=0),
        sentence("a2", "neutral", date="2023-02-22T09:30:00+01:00", index=1),
        error_row("a5", "X", "2023-02-21"),
        sentence("a3", "supportive", outlet="Y", date="2023-03-01"),
        sentence("a4", "skeptical", outlet="Y", date="last spring"),
    ]


def test_dates_parse_from_iso_dates_and_date_times_and_fall_into_weeks_and_months():
    assert parse_date("2023-02-22T09:30:00+01:00").isoformat() == "2023-02-22"
    assert parse_date("2023-02-22T23:30:00Z").isoformat() == "2023-02-22"
    assert parse_date("20230222").isoformat() == "2023-02-22"
    assert parse_date("22/02/2023") is None and parse_date(None) is None and parse_date(20230222) is None
    day = parse_date("2023-02-26")  # a Sunday: ISO week 8, which starts on Monday the 20th
    assert period_of(day, "week") == ("2023-W08", "2023-02-20")
    assert period_of(day, "month") == ("2023-02", "2023-02-01")
    assert period_of(None, "week") == (UNKNOWN_DATE, None)


def test_shares_net_stance_counts_and_marks_match_the_hand_computed_case():
    tables = build_tables(small_corpus(), ReportConfig(by="outlet", time="date", freq="week", min_sentences=3))
    by_group = {row["outlet"]: row for row in tables.by_group}
    x, y = by_group["X"], by_group["Y"]
    assert [row["outlet"] for row in tables.by_group] == ["X", "Y"]  # larger groups first
    assert (x["sentences"], x["articles"], x["error_rows"], x["small_sample"]) == (6, 2, 1, False)
    assert x["stance_share_supportive"] == approx(2 / 6)
    assert x["stance_share_skeptical"] == approx(2 / 6)
    assert x["stance_share_neutral"] == approx(2 / 6)
    assert x["net_stance"] == approx(0)
    assert x["frame_share_economy"] == approx(1 / 6) and x["frame_share_diplomacy"] == approx(5 / 6)
    assert x["low_confidence_share"] == approx(1 / 6)
    assert (y["sentences"], y["articles"], y["small_sample"], y["net_stance"]) == (2, 2, True, 0)
    assert all(row["model"] == TAG for table in (tables.by_group, tables.by_period, tables.top_sentences) for row in table)

    periods = {(row["outlet"], row["period"]): row for row in tables.by_period}
    assert list(periods) == [("X", "2023-W08"), ("Y", "2023-W09"), ("Y", UNKNOWN_DATE)]
    assert periods[("X", "2023-W08")]["period_start"] == "2023-02-20"
    assert periods[("X", "2023-W08")]["error_rows"] == 1
    assert periods[("Y", UNKNOWN_DATE)]["sentences"] == 1 and periods[("Y", UNKNOWN_DATE)]["small_sample"]
    assert any("1 rows (from 1 article(s)) have no ISO date" in w for w in tables.warnings)
    assert any("1 error rows" in w for w in tables.warnings)


def test_the_article_bootstrap_gives_the_hand_computed_interval():
    """Two articles: a resample is {a1, a1}, {a2, a2} or one of each (each pair with probability 1/4 or 1/2).

    a1 has 2 supportive and 1 skeptical of 4 sentences, a2 1 skeptical of 2: supportive share 1/2, 0 or 1/3;
    net stance 1/4, -1/2 or 0. The 95% interval runs from the {a2, a2} value to the {a1, a1} value.
    """
    rows = [row for row in small_corpus() if row["id"] in ("a1", "a2")]
    x = build_tables(rows, ReportConfig(by="outlet"))
    row = x.by_group[0]
    assert (row["stance_share_supportive_low"], row["stance_share_supportive_high"]) == approx((0, 0.5))
    assert (row["net_stance_low"], row["net_stance_high"]) == approx((-0.5, 0.25))
    assert row["net_stance_low"] <= row["net_stance"] <= row["net_stance_high"]


def test_a_single_article_has_no_interval_rather_than_a_zero_width_one():
    row = build_tables([sentence("a1", "supportive"), sentence("a1", "skeptical")], ReportConfig()).by_group[0]
    assert row["stance_share_supportive"] == 0.5 and row["stance_share_supportive_low"] is None
    assert row["net_stance_low"] is None and row["net_stance_high"] is None


def varied_articles(count: int) -> list[dict]:
    """Articles of 3 to 7 sentences whose supportive and skeptical counts vary from article to article."""
    rows = []
    for a in range(count):
        stances = ["supportive"] * (a % 4) + ["skeptical"] * ((a * 7) % 3) + ["neutral"] * (1 + a % 3)
        rows += [sentence(f"n{a}", stance, index=i) for i, stance in enumerate(stances)]
    return rows


def test_intervals_contain_the_estimate_and_narrow_with_more_articles():
    config = ReportConfig(resamples=2000)
    few, many = (build_tables(varied_articles(n), config).by_group[0] for n in (12, 192))
    for row in (few, many):
        for key in ("net_stance", "stance_share_supportive", "stance_share_skeptical", "low_confidence_share"):
            assert row[f"{key}_low"] <= row[key] <= row[f"{key}_high"], key
    assert many["net_stance"] == approx(few["net_stance"])  # the same 12 articles, repeated
    width = {name: row["net_stance_high"] - row["net_stance_low"] for name, row in (("few", few), ("many", many))}
    assert width["many"] < width["few"] / 2.5  # about 1/sqrt(16) as wide


def test_the_same_input_and_seed_give_the_same_intervals():
    first, second = (build_tables(varied_articles(20), ReportConfig()).by_group for _ in range(2))
    assert first == second


def test_rows_without_the_grouping_value_form_a_marked_group_and_bad_options_are_refused():
    tables = build_tables([sentence("a1", "supportive", outlet=None), sentence("a2", "skeptical", outlet="")],
                          ReportConfig(by="outlet"))
    assert [row["outlet"] for row in tables.by_group] == [MISSING_GROUP]
    with pytest.raises(ReportError, match="--keep region"):
        build_tables(small_corpus(), ReportConfig(by="region"))
    with pytest.raises(ReportError, match="freq must be one of"):
        ReportConfig(freq="day")
    with pytest.raises(ReportError, match="no rows"):
        build_tables([], ReportConfig())


def test_top_sentences_are_the_most_confident_per_group_and_stance():
    tables = build_tables(small_corpus(), ReportConfig(by="outlet", top=1))
    chosen = {(row["outlet"], row["stance"]): row for row in tables.top_sentences}
    assert chosen[("X", "supportive")]["text"] == "a1 sentence 0 (supportive)."
    assert chosen[("X", "supportive")]["probability"] == approx(0.9)
    assert chosen[("X", "skeptical")]["id"] == "a2"
    assert len(tables.top_sentences) == 4


EXTERNAL = re.compile(r"""<(script|link|img|iframe|object|embed|source|video|audio)\b|url\(|@import|\bsrc\s*=""", re.I)


def test_the_html_report_is_self_contained_and_shows_every_share_with_its_interval():
    rows = small_corpus() + [dict(sentence("a9", "supportive", outlet="X"), url="https://x.example/a9")]
    for row in rows:
        row.setdefault("url", None)
    tables = build_tables(rows, ReportConfig(by="outlet", time="date", min_sentences=3, top=3))
    page = render_html(tables)
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    # The only http(s) addresses are links to articles, in <a href>.
    addresses = set(re.findall(r"https?://[^\"'<> ]+", page)) - {"http://www.w3.org/2000/svg"}
    assert addresses == {"https://x.example/a9"}
    assert '<a href="https://x.example/a9" rel="noopener noreferrer">a9</a>' in page
    assert page.count("under 3 sentences") >= 2  # Y and its periods are marked, and shown
    assert "[n/a]" in page and "2000 resamples" in page
    rendered = charts(tables)
    assert set(rendered) == {"stance_over_time", "net_stance", "frame_mix"}
    assert all(svg in page for svg in rendered.values())
    net = re.findall(r'class="net" data-group="([^"]+)" data-value="([^"]+)"', rendered["net_stance"])
    assert net == [("X", str(tables.by_group[0]["net_stance"])), ("Y", "0.0")]
    assert 'data-small="true"' in rendered["net_stance"]


def test_text_in_the_report_is_escaped():
    row = sentence("<b>a1</b>", "supportive", outlet="<script>alert(1)</script>")
    row["text"] = "</td><script>alert(2)</script>"
    page = render_html(build_tables([row], ReportConfig(by="outlet")))
    assert "<script>" not in page and "&lt;script&gt;alert(1)" in page


def test_the_command_reads_every_output_format_and_writes_the_report_and_tables(tmp_path, caplog):
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    rows = small_corpus()
    write_jsonl(tmp_path / "scored.jsonl", rows)
    csv_rows = [{**r, **{k: json.dumps(r[k]) if r[k] else None for k in ("stance_scores", "frame_scores")}} for r in rows]
    pa_csv.write_csv(pa.Table.from_pylist(csv_rows), tmp_path / "scored.csv")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "scored.parquet")
    tables = {}
    for suffix in ("jsonl", "csv", "parquet"):
        assert len(read_scored([tmp_path / f"scored.{suffix}"])) == len(rows)
        output = tmp_path / f"report-{suffix}.html"
        folder = tmp_path / f"tables-{suffix}"
        assert main([str(tmp_path / f"scored.{suffix}"), "--by", "outlet", "--time", "date", "--min-sentences", "3",
                     "--output", str(output), "--tables", str(folder)]) == 0
        assert output.read_text(encoding="utf-8").startswith("<!doctype html>")
        tables[suffix] = pq.read_table(folder / "by_period.parquet").to_pylist()
        assert pa_csv.read_csv(folder / "by_period.csv").num_rows == len(tables[suffix]) == 3
        assert {row["model"] for row in tables[suffix]} == {TAG}
    assert tables["jsonl"] == tables["csv"] == tables["parquet"]

    caplog.clear()
    assert main([str(tmp_path / "scored.jsonl"), "--output", str(tmp_path / "report-jsonl.html")]) == 2
    assert "exists; pass --overwrite" in caplog.text
    assert main([str(tmp_path / "scored.jsonl"), "--by", "region", "--output", str(tmp_path / "r.html")]) == 2
    assert "--keep region" in caplog.text
    assert main([str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "r.html")]) == 2
    with pytest.raises(SystemExit):
        main(["--help"])


def test_the_team_written_corpus_sample_is_marked_and_never_trained_on():
    sample = PROJECT_DIR / "training/data/examples/corpus_sample.jsonl"
    rows = read_jsonl(sample)
    assert len(rows) >= 12 and len({row["outlet"] for row in rows}) >= 3
    assert all(row["source"] == "team-written" and row["fictional_outlet"] is True for row in rows)
    assert all(row["url"].split("/")[2].endswith(".example") for row in rows)
    assert sum(parse_date(row["date"]) is None for row in rows) == 1  # the worked example's unknown date
    config = json.loads((PROJECT_DIR / "training/config.json").read_text())
    assert not any("examples" in path for path in config["data_files"] + config["dev_files"])


WITHOUT_PYARROW = """
import sys
sys.modules["pyarrow"] = None
sys.modules["torch"] = None
from model.corpus import ReportConfig
from model.schema import Prediction
from service.corpus_view import corpus_report, scored_rows
from model.batch_io import Fields


class Stub:
    model_tag = "stanceframe:stub"
    config = type("Config", (), {"context_mode": "none"})

    def predict(self, texts, contexts):
        return [Prediction(stance="supportive" if "welcome" in t else "skeptical", frame="diplomacy",
                           stance_scores={"supportive": 0.7, "skeptical": 0.2, "neutral": 0.1},
                           frame_scores={"diplomacy": 1.0}, low_confidence=False, truncated=False) for t in texts]


data = "id,outlet,date,text\\na,X,2023-02-24,Kyiv will welcome talks. Critics scoff.\\nb,Y,2023-03-01,   \\n"
config = ReportConfig(by="outlet", time="date")
rows = scored_rows(data, "csv", Fields(), config, Stub(), "url")
report = corpus_report(rows, config)
print(report["sentences"], report["error_rows"], report["by_group"][0]["net_stance"])
"""


def test_the_corpus_view_needs_neither_pyarrow_nor_torch():
    """The Bento installs neither: the upload is read, scored and reported without them."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", WITHOUT_PYARROW], cwd=PROJECT_DIR, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["2", "1", "0.0"]
