"""Change detection on the remote backends beyond the contract: the ``rest_json`` changes
endpoint (absences, fees, paging by ``{page}`` or by ``next``, time formats, bad records) and
OneRoster's comment results and paging of the filtered ``results``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.backends.oneroster import OneRosterBackend, OneRosterConfig
from bot.backends.rest_json import EndpointConfig, RestJsonBackend, RestJsonConfig, load_config
from bot.backends.rest_json import _format_since as format_since
from bot.domain.digest import Item, format_item
from bot.domain.errors import BackendUnavailable, BackendUnsupported
from bot.i18n import Catalog
from tests.fakes.oneroster import FakeOneRoster
from tests.fakes.ports import FakeClock
from tests.fakes.qlhs_rest import FakeQlhs

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # Monday 09:00 in Hà Nội
LATER = NOW + dt.timedelta(hours=3)
TOAN = ("toan", "Toán")


@pytest.fixture
def qlhs() -> Iterator[FakeQlhs]:
    with FakeQlhs() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def rest(qlhs: FakeQlhs, client: httpx.AsyncClient, **changes: Any) -> RestJsonBackend:
    mapping = qlhs.mapping()
    mapping["endpoints"]["changes"].update(changes)
    return RestJsonBackend(
        RestJsonConfig.model_validate(mapping), school_id="demo", client=client, clock=FakeClock()
    )


async def test_an_absence_without_leave_is_urgent_and_an_excused_one_is_not(
    qlhs: FakeQlhs, client: httpx.AsyncClient
) -> None:
    qlhs.absence_recorded("st-8a-03", dt.date(2026, 11, 23), "sang", excused=False, at=LATER)
    qlhs.absence_recorded("st-6a-01", dt.date(2026, 11, 23), "ca_ngay", excused=True, at=LATER)
    batch = await rest(qlhs, client).changes_since(NOW, now=LATER)
    by_student = {c.student_id: c for c in batch.changes}
    assert by_student["st-8a-03"].payload == {
        "date": "2026-11-23",
        "session": "morning",
        "excused": False,
    }
    assert by_student["st-8a-03"].urgent
    assert by_student["st-6a-01"].payload["session"] == "day"
    assert not by_student["st-6a-01"].urgent
    assert {c.kind for c in batch.changes} == {"attendance"}


async def test_a_new_fee_is_reported_and_a_paid_one_is_not(
    qlhs: FakeQlhs, client: httpx.AsyncClient
) -> None:
    due = dt.date(2026, 12, 15)
    qlhs.fee_changed("st-8a-03", "kt-bhyt", "Bảo hiểm y tế", 884_520, due=due, paid=False, at=LATER)
    qlhs.fee_changed("st-8a-04", "kt-an", "Tiền ăn", 500_000, due=None, paid=True, at=LATER)
    batch = await rest(qlhs, client).changes_since(NOW, now=LATER)
    assert [(c.kind, c.student_id, c.payload) for c in batch.changes] == [
        ("fees", "st-8a-03", {"name": "Bảo hiểm y tế", "amount": 884_520, "due_date": "2026-12-15"})
    ]
    assert batch.watermark == LATER  # the paid fee still moves the watermark on


async def test_every_page_is_read_by_page_number_or_by_next_link(
    qlhs: FakeQlhs, client: httpx.AsyncClient
) -> None:
    for minute in range(5):
        qlhs.score_changed(
            f"st-8a-0{minute + 1}",
            TOAN,
            "tx",
            7 + minute / 2,
            at=LATER + dt.timedelta(minutes=minute),
        )
    by_page = await rest(qlhs, client).changes_since(NOW, now=LATER)
    assert len(by_page.changes) == 5
    assert qlhs.hits("/api/v1/thay-doi") == 4  # pages 1-3 of two, then an empty page 4

    by_link = await rest(
        qlhs, client, path="/thay-doi?tu={since}", next="$.trang_sau"
    ).changes_since(NOW, now=LATER)
    assert [c.key for c in by_link.changes] == [c.key for c in by_page.changes]
    assert qlhs.hits("/api/v1/thay-doi") == 4 + 3  # the last page names no next one
    assert by_link.watermark == LATER + dt.timedelta(minutes=4)


async def test_the_poll_asks_from_the_watermark_in_the_qlhs_own_time_format(
    qlhs: FakeQlhs, client: httpx.AsyncClient
) -> None:
    await rest(qlhs, client).changes_since(NOW + dt.timedelta(seconds=59.9), now=LATER)
    assert qlhs.change_queries == ["23/11/2026 09:00:59"]  # Hà Nội time, cut to the second


def test_since_formats() -> None:
    moment = dt.datetime(2026, 11, 23, 2, 0, 30, 500_000, tzinfo=dt.UTC)

    def fmt(**kw: str) -> str:
        return format_since(moment, EndpointConfig(path="/c?since={since}", **kw))

    assert fmt() == "2026-11-23T02:00:30.500000Z"
    assert fmt(time_zone="Asia/Ho_Chi_Minh") == "2026-11-23T09:00:30.500000+07:00"
    assert fmt(since_format="epoch") == "1795399230"
    assert fmt(since_format="epoch_ms") == "1795399230500"
    assert fmt(since_format="%Y%m%d%H%M%S") == "20261123020030"


async def test_a_record_that_does_not_fit_is_skipped_and_the_rest_still_arrive(
    qlhs: FakeQlhs, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    qlhs.score_changed("st-8a-03", TOAN, "gk", None, at=LATER)  # neither a mark nor Đ/CĐ
    qlhs.score_changed("st-8a-04", TOAN, "hk", 8, at=LATER)  # a score kind we do not know
    qlhs.score_changed("st-8a-05", TOAN, "tx", 8, at=LATER)
    qlhs.score_changed("st-8a-06", ("gdtc", "Giáo dục thể chất"), "tx", None, passed=True, at=LATER)
    qlhs.changes.append(  # conduct (hạnh kiểm): not something we notify about
        {
            "loai": "hanh_kiem",
            "ma": "hk-1",
            "hoc_sinh_id": "st-8a-03",
            "thoi_diem": "23/11/2026 12:00:00",
        }
    )
    batch = await rest(qlhs, client).changes_since(NOW, now=LATER)
    assert [(c.student_id, c.payload) for c in batch.changes] == [
        ("st-8a-05", {"subject": "Toán", "score_kind": "tx", "term": 1, "value": "8"}),
        (
            "st-8a-06",
            {"subject": "Giáo dục thể chất", "score_kind": "tx", "term": 1, "passed": True},
        ),
    ]
    assert "2 record(s) did not fit the mapping" in caplog.text
    assert "st-8a" not in caplog.text  # no student ids or codes in logs


async def test_without_a_changes_endpoint_the_capability_is_absent(
    qlhs: FakeQlhs, client: httpx.AsyncClient
) -> None:
    mapping = qlhs.mapping()
    del mapping["endpoints"]["changes"]
    backend = RestJsonBackend(
        RestJsonConfig.model_validate(mapping), school_id="demo", client=client, clock=FakeClock()
    )
    assert "changes" not in backend.capabilities
    with pytest.raises(BackendUnsupported):
        await backend.changes_since(NOW, now=LATER)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "/thay-doi?trang={page}"}, "must use {since}"),
        ({"path": "/thay-doi?tu={since}&ma={student_id}"}, "uses {student_id}"),
        ({"since_format": "yesterday"}, "since_format must be"),
        ({"time_zone": "Asia/Hanoi_Typo"}, "time_zone 'Asia/Hanoi_Typo' is unknown"),
        ({"next": "$.trang_sau"}, "by {page} or by next, not both"),
        ({"path": "/thay-doi?tu={since}", "next": "$[x"}, "bad path"),
        ({"values": {"kind": {"diem": "grades"}}}, "maps to 'grades'"),
        ({"fields": {"kind": "loai", "id": "ma", "student_id": "hs"}}, "must map occurred_at"),
    ],
)
def test_a_wrong_changes_mapping_is_refused_in_one_sentence(
    qlhs: FakeQlhs, change: dict[str, Any], message: str
) -> None:
    mapping = qlhs.mapping()
    mapping["endpoints"]["changes"].update(change)
    with pytest.raises(ValueError, match=message):
        RestJsonConfig.model_validate(mapping)


def test_since_format_belongs_to_the_changes_endpoint_only(tmp_path: Path, qlhs: FakeQlhs) -> None:
    path = qlhs.mapping_file(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        'path = "/hoc-sinh/{student_id}/phu-huynh"',
        'path = "/hoc-sinh/{student_id}/phu-huynh"\nsince_format = "epoch"',
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"for endpoints\.changes only"):
        load_config(path)


async def test_a_next_link_to_another_host_is_refused(
    qlhs: FakeQlhs, client: httpx.AsyncClient
) -> None:
    qlhs.score_changed("st-8a-03", TOAN, "tx", 8, at=LATER)
    qlhs.changes[0]["trang_sau"] = "https://evil.example/steal"  # would receive our token
    backend = rest(qlhs, client, path="/thay-doi?tu={since}", next="$.data[0].trang_sau")
    with pytest.raises(BackendUnavailable, match="another host"):
        await backend.changes_since(NOW, now=LATER)


# --- OneRoster -------------------------------------------------------------------------------


@pytest.fixture
def provider() -> Iterator[FakeOneRoster]:
    with FakeOneRoster() as server:
        server.max_page_of["results"] = 2
        yield server


def oneroster(provider: FakeOneRoster, client: httpx.AsyncClient) -> OneRosterBackend:
    return OneRosterBackend(
        OneRosterConfig.model_validate(provider.config()),
        school_id="demo",
        client=client,
        clock=FakeClock(),
    )


async def test_oneroster_reports_comment_results_and_reads_every_page(
    provider: FakeOneRoster, client: httpx.AsyncClient
) -> None:
    backend = oneroster(provider, client)
    provider.score_changed("st-8a-03", "gdtc", "nx1", at=LATER, text_score="CĐ")
    for minute, sid in enumerate(("st-8a-01", "st-8a-02", "st-8a-04", "st-8a-05"), start=1):
        provider.score_changed(sid, "toan", "tx1", 8, at=LATER + dt.timedelta(minutes=minute))
    batch = await backend.changes_since(NOW, now=LATER)
    assert len(batch.changes) == 5  # five results on three pages of two
    first = batch.changes[0]
    assert (first.student_id, first.payload) == (
        "st-8a-03",
        {"subject": "Giáo dục thể chất", "score_kind": "cmt", "term": 1, "passed": False},
    )
    assert batch.watermark == LATER + dt.timedelta(minutes=4)
    assert provider.pages["results"] == 3


async def test_a_digest_line_reads_the_same_from_every_backend(
    qlhs: FakeQlhs, provider: FakeOneRoster, client: httpx.AsyncClient
) -> None:
    qlhs.score_changed("st-8a-03", TOAN, "gk", 9.5, at=LATER)
    provider.score_changed("st-8a-03", "toan", "gk1", 9.5, at=LATER)
    catalog = Catalog.load()
    lines = set()
    for backend in (rest(qlhs, client), oneroster(provider, client)):
        (change,) = (await backend.changes_since(NOW, now=LATER)).changes
        item = Item(kind=change.kind, payload=change.payload, occurred_at=change.occurred_at)
        lines.add(format_item(partial(catalog.t, "vi"), "vi", item))
    assert lines == {"Điểm mới: Toán giữa kỳ: 9,5"}


async def test_a_mark_on_a_line_item_newer_than_the_roster_snapshot_is_not_lost(
    provider: FakeOneRoster, client: httpx.AsyncClient
) -> None:
    backend = oneroster(provider, client)
    assert (await backend.changes_since(NOW, now=NOW)).changes == ()  # the snapshot is taken
    item = dict(next(li for li in provider.data["lineItems"] if li["sourcedId"].endswith("tx1")))
    cid = item["class"]["sourcedId"]  # a new regular assessment, added after the snapshot
    item |= {"sourcedId": f"{cid}-hk1-tx9", "title": "TX9", "assignDate": "2026-11-23"}
    provider.data["lineItems"].append(item)
    student = next(
        e["user"]["sourcedId"]
        for e in provider.data["enrollments"]
        if e["class"]["sourcedId"] == cid and e["role"] == "student"
    )
    provider.data["results"].append(
        {
            "sourcedId": "r-new",
            "status": "active",
            "dateLastModified": "2026-11-23T05:00:00.000Z",
            "lineItem": {"sourcedId": item["sourcedId"]},
            "student": {"sourcedId": student},
            "score": 7.25,
        }
    )
    (change,) = (await backend.changes_since(NOW, now=LATER)).changes
    assert change.student_id == student
    assert change.payload["value"] == "7.25"
    assert change.payload["score_kind"] == "tx"
