"""The API tests' shared dataset and test client: one real API server on the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from sentistream.settings import Settings
from stream.readers.api.app import build_app
from tests.query.dataset import Dataset, dataset

__all__ = ["api", "client_for", "dataset"]


async def client_for(settings: Settings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    return client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(dataset: Dataset) -> AsyncIterator[TestClient[Any, Any]]:
    """A module's API server on the query dataset (its live hub takes a second to stop)."""
    client = await client_for(dataset.settings)
    yield client
    await client.close()
