"""A hypothesis fuzz of the running API (`sentistream serve`, real Redis, real data).

Random paths, query strings, methods and headers (the Authorization, Host and Last-Event-ID
headers included, with non-UTF-8 bytes), sent as raw HTTP. Never a 5xx; every error, and every
/api answer except the event stream and the metrics, is JSON.

FUZZ_EXAMPLES sets the number of requests (default 2,000 in `make test`; the README's figure is a
run of 10,000). Requests that aiohttp's HTTP parser itself refuses (control bytes in a header,
raw bytes or over 8190 bytes in the request line, HTTP/1.1 without Host, a repeated Host or
Content-Type, bad framing headers) are left out: its plain-text 400 comes before any of our
code runs.
"""

from __future__ import annotations

import collections
import os
import string
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentistream.harness import free_port
from sentistream.settings import Secret
from tests.api import rawhttp
from tests.api.test_dashboard import serving
from tests.query.dataset import WEIRD, Dataset

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
TOKEN = "fuzz-token-" + "q" * 20
PATHS = ["/", "/health", "/openapi.json", "/api/brands", "/api/query", "/api/timeline",
         "/api/top", "/api/why", "/api/alerts", "/api/live", "/api/live/ticket", "/api/metrics",
         "/static/app.js", "/static/style.css", "/static/", "/static/../README.md", "/api/",
         "/api", "/favicon.ico", "//api/brands", "/api/brands/", "/API/BRANDS"]
PARAMS = ["brand", "window", "at", "from", "to", "since", "limit", "resolution", "ticket",
          "token", "cursor", "lang"]
NASTY = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e300", "-1e300", "1e-300",
         "0001-01-01", "9999-12-31T23:59:59", "1970-01-01", "now", "-2h", "now-15m", "-0m",
         "0", "-1", "00", "²", "٣", "1" * 40, "15m", "1h", "7d", "367d", "0m", "1m", "1d",
         "1H", "acme", "globex", WEIRD, "*", "%", "\x00", "\udc80", "é", "😀", "", " ",
         "2023-11-14T22:13:20Z", "2023-11-14T22:13:20+99:00", "1700000000", "1700000000000",
         "100", "101", "1000", "1001", "5", "-", "--1h", "a" * 2000, "en", "DE", "und",
         "lang:en"]

MAX_TARGET = 8000  # aiohttp's parser refuses request lines over 8190 bytes
# Headers the HTTP layer acts on before any handler (a second Host, a body length, an upgrade):
# aiohttp's parser answers their misuse itself, so random ones are not sent.
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade",
           "te", "trailer"}
# Bytes a header value may hold (RFC 9110 field-value: tab, visible ASCII, space, obs-text 0x80+);
# aiohttp's parser answers anything else itself.
FIELD_BYTES = {9, *range(0x20, 0x7F), *range(0x80, 0x100)}
header_bytes = st.binary(max_size=200).map(
    lambda b: bytes(c for c in b if c in FIELD_BYTES).strip())
text_values = st.one_of(st.sampled_from(NASTY), st.text(max_size=60),
                        st.binary(max_size=60).map(lambda b: b.decode("latin-1")))


def encode(value: str) -> str:
    """Percent-encoded UTF-8, lone surrogates as the raw bytes they stand for (invalid UTF-8)."""
    return quote_from_bytes(value.encode("utf-8", "surrogateescape")
                            if max(value or "a") >= "\udc80" else
                            value.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes | None]:
    method = draw(st.sampled_from([b"GET"] * 8 + [b"POST", b"HEAD", b"PUT", b"DELETE",
                                                  b"OPTIONS", b"PATCH"]))
    path = draw(st.one_of(
        st.sampled_from(PATHS),
        st.lists(text_values, max_size=4).map(lambda parts: "/" + "/".join(map(encode, parts))),
        st.sampled_from(PATHS).flatmap(lambda p: text_values.map(lambda t: p + encode(t)))))
    pairs = draw(st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), text_values),
                                    text_values), max_size=6))
    query = [f"{encode(k)}={encode(v)}" for k, v in pairs]
    while len(path) + sum(len(q) + 1 for q in query) > MAX_TARGET:
        query.pop()  # longer request lines get aiohttp's own plain-text 400
    target = path[:MAX_TARGET] + ("?" + "&".join(query) if query else "")
    headers: list[tuple[bytes, bytes]] = []
    auth = draw(st.one_of(st.just(f"Bearer {TOKEN}".encode()), st.just(f"Bearer {TOKEN}".encode()),
                          st.none(), header_bytes.map(lambda b: b"Bearer " + b), header_bytes))
    if auth is not None:
        headers.append((b"Authorization", auth))
    if draw(st.booleans()):
        headers.append((b"Last-Event-ID", draw(st.one_of(
            st.sampled_from([b"0-0", b"0", b"1-1", b"99999999999999999999-1", b"-1"]),
            header_bytes))))
    # Distinct names: aiohttp's parser refuses a repeated Content-Type, User-Agent, ... itself.
    names = draw(st.lists(st.text(string.ascii_letters + "-", min_size=1, max_size=20).filter(
        lambda n: n.lower() not in FRAMING), max_size=3, unique_by=str.lower))
    headers += [(name.encode(), draw(header_bytes)) for name in names]
    host = draw(st.one_of(st.just(b"127.0.0.1"), st.just(b"localhost:1"), header_bytes,
                          st.just(b"[::1]"), st.just(b"evil.example")))
    return method, target.encode("ascii"), headers, host


@pytest.fixture(scope="module")
def port(dataset: Dataset) -> Iterator[int]:
    settings_ = dataset.settings.replace(api_port=free_port(), api_token=Secret(TOKEN))
    with serving(settings_):
        yield settings_.api_port


def test_no_request_gets_a_5xx_and_every_error_is_json(port: int) -> None:
    seen: collections.Counter[int] = collections.Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests())
    def one(request: tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes | None]) -> None:
        method, target, headers, host = request
        answer = rawhttp.request(port, target, headers, method=method, host=host)
        seen[answer.status] += 1
        where = f"{method!r} {target!r} {headers!r} {host!r}: {answer.status} {answer.body[:300]!r}"
        assert answer.status < 500, where
        path = target.split(b"?")[0]
        streamed = answer.content_type in ("text/event-stream", "text/plain") and \
            path in (b"/api/live", b"/api/metrics") and answer.status == 200
        needs_json = answer.status >= 400 or path.startswith(b"/api/") or path in (
            b"/health", b"/openapi.json")
        if needs_json and not streamed:
            assert answer.content_type == "application/json", where
            if method != b"HEAD":
                body = answer.json()
                if answer.status >= 400:
                    assert body["status"] == answer.status and body["error"], where

    one()
    print(f"\nfuzz: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= EXAMPLES * 0.9
    assert seen[200] > EXAMPLES * 0.02  # the token and real brands do get through sometimes
