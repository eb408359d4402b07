"""The dashboard in headless Chromium: it draws charts and its live counter moves with new posts.

Debian's /usr/bin/chromium (installed by ops/test.sh) is driven by Playwright for Python; nothing
is downloaded. The screenshot lands in artifacts/dashboard.png.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sentistream.harness import child_env, free_port
from sentistream.settings import Secret, Settings
from tests.query.dataset import MIX, Dataset
from tests.query.harness import NEGATIVE, POSITIVE, post, send_posts

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


TOKEN = "dashboard-token-" + "z" * 16


def wait_until(page: Any, expression: str, timeout: int) -> None:
    """Poll a JS expression from here: Playwright's wait_for_function evaluates its predicate
    with eval() inside the page, which the dashboard's Content-Security-Policy forbids."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """`sentistream -v serve` as a user starts it, on a free port (access log on)."""
    log = settings.state_dir / f"serve-{settings.redis_prefix}-{settings.api_port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sentistream.cli", "-v", "serve"],
                                env=child_env(settings), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{settings.api_port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("serve did not start:\n" + log.read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture(scope="module")
def server(dataset: Dataset) -> Iterator[str]:
    with serving(dataset.settings.replace(api_port=free_port())) as url:
        yield url


async def _save_alert(dataset: Dataset) -> None:
    import redis.asyncio as aioredis

    from stream.schema.keys import KeyScheme
    from stream.worker.alerts.detector import Alert
    from stream.worker.alerts.store import save_alerts

    client = aioredis.Redis.from_url(dataset.settings.redis_url)
    try:
        bucket = int(time.time() // 60 * 60)
        drop = Alert("acme", "sentiment_drop", bucket, "nss", -0.8, 0.1, -9.5, 120, time.time(),
                     {"drivers": {"side": "negative", "negative": [
                         {"term": "refund", "z": 6.2, "count": 40}], "positive": []},
                      "examples": [{"id": "ex1", "text": HOSTILE, "term": "refund"}]})
        await save_alerts(client, KeyScheme(dataset.settings.redis_prefix), [drop], 1000, 1000)
    finally:
        await client.aclose()


# Post text is the public's: shown as text, never parsed as HTML (an <img> here would run).
HOSTILE = "still no refund <img src=x onerror=alert(1)>"


def _write_drivers(dataset: Dataset) -> None:
    """acme's driver keys as the worker writes them: "refund" new in this hour's complaints."""
    import json

    import redis

    from stream.schema.keys import KeyScheme

    client = redis.Redis.from_url(dataset.settings.redis_url)
    keys = KeyScheme(dataset.settings.redis_prefix)
    hour, day = int(time.time() // 3600 * 3600), int(time.time() // 86400 * 86400)
    for h in range(day - 86400, day, 3600):  # the baseline: the day before, its hour sets
        client.zadd(keys.terms("acme", "neg", "h", h), {"slow": 25, "late": 21})
    client.zadd(keys.terms("acme", "neg", "h", hour), {"refund": 40, "slow": 10})
    client.lpush(keys.examples("acme", "neg", hour), json.dumps({"id": "ex1", "text": HOSTILE}))


def test_dashboard_draws_charts_and_counts_live_posts(dataset: Dataset, server: str) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: ops/test.sh installs it (apt chromium)"
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        _write_drivers(dataset)
        page.goto(server + "#acme")
        wait_until(page,
            "Number(document.querySelector('#chart-volume').dataset.points) > 0", timeout=20_000)
        # The "why" panel: the driver, its z and posts, and its example as plain text.
        wait_until(page, "document.querySelector('#why-neg').textContent.includes('refund')",
                   timeout=20_000)
        assert HOSTILE in page.inner_text("#why-neg") and "40 posts" in page.inner_text("#why-neg")
        assert page.query_selector("#why img") is None
        # Unique authors: the dataset's acme posts come from user0..user6.
        assert page.inner_text("#card-authors") == "7"
        page.wait_for_selector("#live.on", timeout=10_000)  # the SSE stream is open
        options = page.eval_on_selector_all("#brand option", "els => els.map(e => e.value)")
        assert set(options) == set(MIX) and page.input_value("#brand") == "acme"
        assert page.inner_text("#card-n") == "30"
        assert "100.0%" in page.inner_text("#chart-lang")  # every dataset post is English
        assert page.inner_text("#live-counter") == "0"

        now = time.time()
        live = [post(5000 + i, "acme", (POSITIVE if i % 2 else NEGATIVE).format(b="acme"), now,
                     prefix="ui") for i in range(6)]
        # One post in a language the model does not score: in the language mix, not in NSS.
        live[0].update(text="この acme の製品は最悪です", lang="ja")
        send_posts(dataset.settings, live)
        wait_until(page,
            "document.querySelector('#live-counter').textContent === '6'", timeout=60_000)
        # The charts and cards are refreshed from the API after the announcement.
        wait_until(page, "document.querySelector('#card-n').textContent === '36'",
                               timeout=20_000)
        assert page.inner_text("#top-pos") and "no alerts" in page.inner_text("#alerts")
        # The language mix of the brand: English and, since the live posts, Japanese.
        wait_until(page, "document.querySelector('#chart-lang').textContent.includes('ja')",
                   timeout=20_000)
        mix = page.inner_text("#chart-lang")
        assert "en" in mix and "97.2%" in mix and "2.8%" in mix, mix  # 35 and 1 of 36
        assert page.inner_text("#lang-note") == "1 post in languages the model does not score"
        # An alert written by the alert store (as the worker's hook does) shows up live.
        with ThreadPoolExecutor(1) as pool:  # Playwright's own loop runs in this thread
            pool.submit(asyncio.run, _save_alert(dataset)).result()
        wait_until(page,
            "document.querySelector('#alerts').textContent.includes('sentiment drop · acme')",
            timeout=20_000)
        alerts_text = page.inner_text("#alerts")
        assert "drivers: refund" in alerts_text and HOSTILE in alerts_text
        assert page.query_selector("#alerts img") is None
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        browser.close()
    assert errors == []


def test_with_a_token_the_page_asks_once_and_keeps_it_out_of_storage_and_urls(
        dataset: Dataset) -> None:
    from playwright.sync_api import sync_playwright

    settings = dataset.settings.replace(api_port=free_port(), api_token=Secret(TOKEN))
    errors: list[str] = []
    prompts: list[str] = []
    with serving(settings) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        def answer(dialog: Any) -> None:
            prompts.append(dialog.message)
            dialog.accept(TOKEN)
        page.on("dialog", answer)
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(url + "#acme")
        page.wait_for_selector("#live.on", timeout=20_000)  # opened with a ticket
        # The cards are filled from the API with the header (30, or 36 after the test above).
        wait_until(page, "['30', '36'].includes(document.querySelector('#card-n')"
                               ".textContent)", timeout=20_000)
        assert len(prompts) == 1 and "SENTISTREAM_API_TOKEN" in prompts[0]
        assert page.evaluate("localStorage.getItem('sentistream-token')") is None
        assert page.evaluate("sessionStorage.getItem('sentistream-token')") == TOKEN
        live = [u for u in requested if "/api/live?" in u]
        assert live and all("ticket=" in u and TOKEN not in u for u in live), live
        assert not [u for u in requested if TOKEN in u]
        browser.close()
    log = settings.state_dir / f"serve-{settings.redis_prefix}-{settings.api_port}.log"
    text = log.read_text()
    assert "/api/live?ticket=*** " in text and TOKEN not in text, text
    assert errors == []
