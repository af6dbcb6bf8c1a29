from datetime import UTC, datetime

import pytest

from pipeline.dates import isoformat, parse_published

WANT = datetime(2023, 6, 19, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2023-06-19T08:00:00Z",
        "2023-06-19T10:00:00+02:00",
        "Mon, 19 Jun 2023 08:00:00 GMT",
        "2023-06-19 08:00:00",
        1687161600,
        1687161600000,
    ],
)
def test_common_formats_parse_to_utc(value: object) -> None:
    assert parse_published(value) == WANT


@pytest.mark.parametrize("value", ["", "soon", None, True, "9" * 200, [2023], 10**30])
def test_unparseable_values_give_none(value: object) -> None:
    assert parse_published(value) is None


def test_isoformat_uses_z() -> None:
    assert isoformat(WANT) == "2023-06-19T08:00:00Z"
