"""OneRoster collections are read page by page, with or without ``Link`` headers, and the
OAuth2 token is fetched once and reused."""

from __future__ import annotations

import httpx
import pytest

from bot.backends.oneroster import OneRosterBackend, OneRosterConfig
from tests.fakes.oneroster import FakeOneRoster
from tests.fakes.ports import FakeClock

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("link_headers", [True, False], ids=["link", "x-total-count"])
@pytest.mark.parametrize(("page_size", "max_page"), [(7, 50), (100, 9)])
async def test_every_page_is_read_once(link_headers: bool, page_size: int, max_page: int) -> None:
    with FakeOneRoster(max_page=max_page, link_headers=link_headers) as provider:
        async with httpx.AsyncClient() as client:
            backend = OneRosterBackend(
                OneRosterConfig.model_validate(provider.config(page_size=page_size)),
                school_id="demo",
                client=client,
                clock=FakeClock(),
            )
            users = await backend.collection("/rostering/v1p2/users", "users")
    total = len(provider.data["users"])
    per_page = min(page_size, max_page)
    assert [u["sourcedId"] for u in users] == [u["sourcedId"] for u in provider.data["users"]]
    assert provider.pages["users"] == -(-total // per_page)
    assert provider.tokens_issued == 1


async def test_a_filtered_collection_reads_only_its_records() -> None:
    with FakeOneRoster(max_page=10) as provider:
        async with httpx.AsyncClient() as client:
            backend = OneRosterBackend(
                OneRosterConfig.model_validate(provider.config()),
                school_id="demo",
                client=client,
                clock=FakeClock(),
            )
            results = await backend.collection(
                "/gradebook/v1p2/results", "results", filter_="student.sourcedId='st-8a-03'"
            )
    assert results
    assert {r["student"]["sourcedId"] for r in results} == {"st-8a-03"}
