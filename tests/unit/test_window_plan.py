"""Window planning: when a fetch asks for a count, which $skip/$top windows it plans, and the
GUID keys it keeps to find a row that arrived twice."""

from __future__ import annotations

import random
import uuid

import pyarrow as pa
import pytest

from elfsquad_magic.core.request import ODataRequest
from elfsquad_magic.fetch.page import Page
from elfsquad_magic.fetch.windows import guid_bits, plan_windows, stable_order, with_count


def test_stable_order_appends_the_key_once() -> None:
    assert stable_order("", ["id"]) == "id"
    assert stable_order("name desc", ["id"]) == "name desc,id"
    assert stable_order("id desc,name", ["id"]) == "id desc,name"
    assert stable_order("substring(name,1,2) asc", ["id"]) == "substring(name,1,2) asc,id"
    assert stable_order("a", ["k1", "k2"]) == "a,k1,k2"


def test_count_is_added_only_to_collections_without_user_paging() -> None:
    def counted(path: str, params: object = None, limit: int | None = None) -> bool:
        request = ODataRequest.build("GET", path, params)  # type: ignore[arg-type]
        sent = with_count(request, limit)
        return sent is not request and sent.options[-1] == ("$count", "true")

    base = "https://api.elfsquad.io/data/1/QuotationLines"
    assert counted(base)
    assert counted("/data/1/QuotationLines", [("$filter", "a eq 1")])
    assert not counted(base, [("$top", "5")])
    assert not counted(base + "?$skip=5")
    assert not counted(base, {"$count": "false"})
    assert not counted(base, None, 100)
    assert not counted(base + "(" + str(uuid.uuid4()) + ")")
    assert not counted("https://api.elfsquad.io/quotation/1/quotations")


def _first(records: list, count: int | None, url: str = "https://h/data/1/QuotationLines") -> Page:
    return Page(url=url, records=records, next_link="next", count=count)


def test_plan_covers_every_row_once_up_to_the_limit() -> None:
    records = [{"id": str(i)} for i in range(500)]
    request = ODataRequest.build("GET", "/data/1/QuotationLines?$filter=a eq 1&$count=true")
    api = "https://h"

    def plan(count: int | None, limit: int | None = None, key=None, req=request):  # noqa: ANN001
        return plan_windows(req, _first(records, count), api_url=api, limit=limit, key=key)

    full = plan(1750, key=("id",))
    assert full is not None
    assert full.windows == [(500, 500), (1000, 500), (1500, 250)]
    assert "$orderby=id" in full.window_url(500, 500)
    assert "$filter=a%20eq%201" in full.url
    limited = plan(1750, limit=1200, key=("id",))
    assert limited is not None and limited.windows == [(500, 500), (1000, 200)]
    assert plan(1000) is None  # 2 pages
    assert plan(None) is None  # no count
    assert plan(1750, req=request.with_options(("$top", "5000"))) is None


def test_guid_bits_are_the_128_bits_of_each_guid() -> None:
    """GUID keys are compared as their bits; the bits are what ``uuid`` makes of the text."""
    guids = [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(40)]
    guids[3] = guids[3].upper()  # either case: the same GUID
    bits = guid_bits(pa.array(guids).slice(2))  # a slice, as a page cut short gives
    assert bits is not None and bits.shape == (38, 2)
    assert [int(hi) << 64 | int(lo) for hi, lo in bits] == [uuid.UUID(g).int for g in guids[2:]]


@pytest.mark.parametrize(
    "keys",
    [
        pa.array(["6f1c2b3a-0000-4000-8000-000000000001", None]),
        pa.array(["6f1c2b3a-0000-4000-8000-000000000001", "short"]),
        pa.array(["6f1c2b3a-0000-4000-8000-00000000000g"]),  # not a hex digit
        pa.array(["6f1c2b3a00000-4000-8000-000000000001"]),  # a dash missing
        pa.array(["6f1c2b3a-0000-4000-8000-0000000000é"]),  # 36 bytes, not a GUID
        pa.array([1, 2]),
    ],
)
def test_keys_that_are_not_all_guids_have_no_bits(keys: pa.Array) -> None:
    assert guid_bits(keys) is None
