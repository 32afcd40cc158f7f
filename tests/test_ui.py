"""The web page at /ui/ in a real headless Chromium against a real `bentoml serve`.

Needs the Python package `playwright` and Debian's `/usr/bin/chromium` (no browser is
downloaded); when either is missing the tests fail, they do not skip. The screenshot of a
successful analysis is saved to test-artifacts/ui.png, and one with a sentence's explanation
open to test-artifacts/ui-explain.png.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import PROJECT_DIR, SEED_ARTICLES

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT = PROJECT_DIR / "test-artifacts" / "ui.png"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    # Imported here so a missing package fails this module's tests only.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, served_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.page_errors = []
    page.foreign_requests = []
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith((served_url, "data:", "blob:"))
            else page.foreign_requests.append(request.url))
    yield page
    context.close()


def open_page(page, served_url):
    response = page.goto(f"{served_url}/ui/")
    assert response is not None and response.ok, (
        "GET /ui/ failed: mount the page in service/service.py with StanceFrame.mount_asgi_app(ui_app, path='/ui')"
    )


def test_the_page_is_mounted_at_ui(served_url):
    response = httpx.get(f"{served_url}/ui/", timeout=10)
    assert response.status_code == 200, (
        f"GET /ui/ answered {response.status_code}: mount the page in service/service.py with "
        "StanceFrame.mount_asgi_app(ui_app, path='/ui')"
    )
    assert response.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert "<h1>StanceFrame</h1>" in response.text
    # Self-contained: nothing is loaded from another origin.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", response.text)
    assert httpx.get(f"{served_url}/ui", timeout=10).status_code in (200, 307)


def test_analyze_an_article_in_the_browser(page, served_url):
    text = SEED_ARTICLES[0].read_text(encoding="utf-8")
    open_page(page, served_url)
    page.fill("#article", text)
    sent = page.input_value("#article")  # what the page posts (a textarea normalizes line ends)
    page.click("#analyze")
    page.wait_for_selector(".sentence")

    expected = httpx.post(f"{served_url}/analyze", json={"text": sent}, timeout=60).json()
    summary = expected["summary"]
    sentences = page.locator(".sentence")
    assert sentences.count() == len(expected["sentences"]) == summary["sentences"] > 0
    assert page.inner_text("#sentence-count").strip() == str(summary["sentences"])
    for stance in ("supportive", "skeptical", "neutral"):
        assert page.inner_text(f"#count-{stance}").strip() == str(summary["stance_counts"][stance])
    assert [sentences.nth(i).get_attribute("data-stance") for i in range(sentences.count())] == [
        s["stance"] for s in expected["sentences"]
    ]
    assert page.locator(".sentence .frame-tag").count() == len(expected["sentences"])
    assert page.locator(".sentence.low-confidence").count() == sum(s["low_confidence"] for s in expected["sentences"])
    assert "%" in (sentences.first.get_attribute("title") or "")

    net = page.inner_text("#net-stance").strip()
    assert re.fullmatch(r"[+-]\d\.\d\d", net) and abs(float(net) - summary["net_stance"]) <= 0.005
    assert page.inner_text("#model-tag").strip() == expected["model"]
    assert page.locator("#stance-chart rect.bar").count() == len(summary["stance_shares"])
    assert page.locator("#frame-chart rect.bar").count() >= len([n for n in summary["frame_counts"].values() if n])
    widest = max(float(w) for w in page.eval_on_selector_all("#stance-chart rect.bar", "bars => bars.map(b => b.getAttribute('width'))"))
    assert widest > 0

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Click toggles the details of one sentence, with the probabilities as percentages.
    sentences.first.click()
    details = page.locator("#details")
    details.wait_for(state="visible")
    shown = details.inner_text()
    assert re.search(r"\d+\.\d%", shown) and expected["sentences"][0]["stance"] in shown
    assert "Low confidence" in shown
    sentences.first.click()
    details.wait_for(state="hidden")

    # Why: a click asks /explain for the sentence, with the context the model read in /analyze, and
    # shows its nearest training sentences and shades its words by their attribution.
    third = expected["sentences"][2]
    context = " ".join([expected["sentences"][0]["text"], expected["sentences"][1]["text"]])
    [why] = httpx.post(f"{served_url}/explain", timeout=60, json={
        "sentences": [{"text": third["text"], "context": context}], "neighbours": 5, "attributions": True,
    }).json()
    sentences.nth(2).click()
    neighbours = page.locator("#details-neighbours li")
    expect(neighbours).to_have_count(5)
    for item, neighbour in zip(neighbours.all(), why["neighbours"]):
        assert neighbour["text"] in item.inner_text()
        assert f"similarity {neighbour['similarity']:.2f}" in item.inner_text() and neighbour["id"] in item.inner_text()
    words = page.locator("#details .quote .word")
    expect(words).to_have_count(len(why["attributions"]))
    assert [words.nth(i).inner_text() for i in range(words.count())] == [w["token"] for w in why["attributions"]]
    assert page.inner_text("#details .quote") == third["text"]
    page.screenshot(path=str(SCREENSHOT.with_name("ui-explain.png")), full_page=True)
    sentences.nth(2).click()
    details.wait_for(state="hidden")

    # Downloads: the JSON is the response, the CSV has one properly quoted row per sentence.
    with page.expect_download() as download:
        page.click("#download-json")
    assert json.loads(Path(download.value.path()).read_text(encoding="utf-8")) == expected
    with page.expect_download() as download:
        page.click("#download-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_bytes().decode("utf-8"), newline="")))
    assert list(rows[0])[:7] == ["index", "start", "end", "text", "stance", "frame", "low_confidence"]
    assert {f"stance_{k}" for k in summary["stance_shares"]} <= set(rows[0])
    assert [r["text"] for r in rows] == [s["text"] for s in expected["sentences"]]
    assert [r["stance"] for r in rows] == [s["stance"] for s in expected["sentences"]]

    # A sentence a spreadsheet would run as a formula is neutralized in the CSV.
    page.fill("#article", "=1+2 is what the minister wrote. China welcomed it.")
    page.click("#analyze")
    # A locator assertion, not wait_for_function: the page's CSP forbids evaluating strings.
    expect(page.locator(".sentence")).to_have_count(2)
    with page.expect_download() as download:
        page.click("#download-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_bytes().decode("utf-8"), newline="")))
    assert [r["text"] for r in rows] == ["'=1+2 is what the minister wrote.", "China welcomed it."]

    # Blank text goes to the server, whose 400 message is shown.
    page.fill("#article", "   ")
    page.click("#analyze")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert error.get_attribute("role") == "alert"
    assert "empty or only white space" in error.inner_text()

    # A success clears the error.
    page.fill("#article", "BEIJING: Xi will visit Moscow.")
    page.click("#analyze")
    error.wait_for(state="hidden")
    assert page.locator(".sentence").count() == 2

    assert page.page_errors == []
    assert page.foreign_requests == []


def test_upload_a_text_file_and_survive_a_network_failure(page, served_url):
    text = SEED_ARTICLES[1].read_text(encoding="utf-8")
    open_page(page, served_url)
    page.set_input_files("#file", files=[{"name": "article.txt", "mimeType": "text/plain", "buffer": text.encode()}])
    page.wait_for_function("document.querySelector('#article').value.length > 0")
    assert page.input_value("#article").replace("\r\n", "\n") == text.replace("\r\n", "\n")

    page.route("**/analyze", lambda route: route.abort())
    page.click("#analyze")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "Could not reach" in error.inner_text()
    assert page.page_errors == []


def test_the_api_page_at_the_root_renders_and_loads_nothing_from_outside(page, served_url):
    response = page.goto(f"{served_url}/")
    assert response is not None and response.ok and response.url == f"{served_url}/ui/api"
    page.wait_for_selector("#swagger-ui .opblock")
    assert page.locator("#swagger-ui .opblock").count() >= 3
    assert page.page_errors == []
    assert page.foreign_requests == []


CORPUS_SAMPLE = PROJECT_DIR / "training/data/examples/corpus_sample.jsonl"


def test_the_corpus_view_reports_an_upload_with_the_services_charts_and_tables(page, served_url):
    data = CORPUS_SAMPLE.read_bytes()
    open_page(page, served_url)
    page.click("#view-corpus")
    expect(page.locator("#corpus-view")).to_be_visible()
    expect(page.locator("#article-view")).to_be_hidden()
    expect(page.locator("#corpus-limits")).to_contain_text("sentences")
    page.set_input_files("#corpus-file", files=[{"name": "corpus.jsonl", "mimeType": "application/json", "buffer": data}])
    expect(page.locator("#corpus-run")).to_be_enabled()
    page.select_option("#corpus-freq", "month")
    page.fill("#corpus-min", "20")
    page.click("#corpus-run")
    expect(page.locator("#corpus-results")).to_be_visible(timeout=TIMEOUT_MS * 2)

    expected = httpx.post(f"{served_url}/corpus", json={
        "data": data.decode("utf-8"), "format": "jsonl", "by": "outlet", "time": "date", "freq": "month",
        "min_sentences": 20}, timeout=120).json()
    groups = [row["outlet"] for row in expected["by_group"]]
    assert len(groups) == 4
    # The service's own SVG charts, as the CLI report draws them.
    assert page.locator("#chart-net_stance svg g.net").count() == len(groups)
    assert page.locator("#chart-stance_over_time svg g[data-group]").count() == len(groups)
    assert page.locator("#chart-frame_mix svg rect.bar").count() == 8 * len(groups)
    assert [page.locator("#corpus-table tbody tr").nth(i).get_attribute("data-group") for i in range(len(groups))] == groups
    small = [row["outlet"] for row in expected["by_group"] if row["small_sample"]]
    assert page.locator("#corpus-table tr.small").count() == len(small)
    assert "no ISO date" in page.inner_text("#corpus-warnings")
    first = expected["by_group"][0]
    assert f"{first['net_stance']:+.2f}".replace("-0.00", "+0.00") in page.inner_text("#corpus-table tbody tr >> nth=0")

    with page.expect_download() as download:
        page.click("#download-by-period")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"), newline="")))
    assert [(r["outlet"], r["period"], int(r["sentences"])) for r in rows] == [
        (r["outlet"], r["period"], r["sentences"]) for r in expected["by_period"]]
    assert {r["model"] for r in rows} == set(expected["models"])
    with page.expect_download() as download:
        page.click("#download-report")
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert report.startswith("<!doctype html>") and not re.search(r"<(script|link|img)\b|\bsrc\s*=", report)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT.with_name("corpus.png")), full_page=True)

    # An upload the service cannot use: its message is shown, the last result stays.
    page.set_input_files("#corpus-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"id,body\na,Talks.\n"}])
    page.click("#corpus-run")
    expect(page.locator("#corpus-error")).to_contain_text("has no column 'text'")
    assert page.page_errors == []
    assert page.foreign_requests == []
