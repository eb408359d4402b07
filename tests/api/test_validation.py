"""Hostile parameters and headers get a JSON 4xx that names the problem, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from sentistream.settings import Secret
from tests.api import rawhttp
from tests.api.conftest import client_for
from tests.query.dataset import Dataset

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
TOKEN = "s3cret-token"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secured(dataset: Dataset) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(dataset.settings.replace(api_token=Secret(TOKEN)))
    yield client
    await client.close()


BAD_TIMES = ["nan", "NaN", "inf", "-inf", "1e300", "-1e300", "0001-01-01", "9999-12-31T23:59:59",
             "1" * 400, "-0001-01-01"]


@pytest.mark.parametrize("value", BAD_TIMES)
@pytest.mark.parametrize("path", ["/api/brands?at={}", "/api/query?brand=acme&at={}",
                                  "/api/top?brand=acme&at={}", "/api/alerts?since={}",
                                  "/api/timeline?brand=acme&from={}",
                                  "/api/timeline?brand=acme&to={}"])
async def test_unusable_times_are_a_400(api: TestClient[Any, Any], path: str,
                                        value: str) -> None:
    response = await api.get(path.format(value))
    body = await response.json()
    assert response.status == 400, body
    assert "bad time" in body["error"] and body["status"] == 400


@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A3", "1e3", "-1", "+5", "%205", "5%20",
                                   "99999999999999999999999999", "0x10", ""])
async def test_limits_must_be_ascii_whole_numbers(api: TestClient[Any, Any], limit: str) -> None:
    for path in (f"/api/top?brand=acme&limit={limit}", f"/api/alerts?limit={limit}"):
        response = await api.get(path)
        body = await response.json()
        assert response.status == 400, (path, body)
        assert "bad limit" in body["error"]


@pytest.mark.parametrize("brand", ["%ED%A0%80", "%FF%FE", "a%00b", "x" * 3000])
async def test_undecodable_or_huge_brands_are_a_4xx(api: TestClient[Any, Any],
                                                    brand: str) -> None:
    response = await api.get(f"/api/query?brand={brand}")
    body = await response.json()
    assert 400 <= response.status < 500, body


@pytest.mark.parametrize("header", [b"Bearer \xc3\xa9t\xc3\xa9", b"Bearer \xff\xfe",
                                    b"\xe2\x82\xac", b"Bearer \xed\xa0\x80",
                                    b"Bearer " + b"a" * 5000])
async def test_a_non_ascii_authorization_header_is_a_401(secured: TestClient[Any, Any],
                                                         header: bytes) -> None:
    # Raw bytes, as a hostile client sends them (client libraries would re-encode them).
    port = secured.server.port
    assert port is not None
    answer = await asyncio.to_thread(rawhttp.request, port, b"/api/brands",
                                     [(b"Authorization", header)])
    assert answer.status == 401, answer
    assert "Authorization: Bearer" in answer.json()["error"]


async def test_a_wrong_method_is_a_json_405(api: TestClient[Any, Any]) -> None:
    response = await api.post("/api/brands")
    body = await response.json()
    assert response.status == 405 and "GET" in response.headers["Allow"], body
