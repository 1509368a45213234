"""Budget windows are UTC days and months, named and timed the same way all day long."""

from __future__ import annotations

import datetime as dt

import pytest

from golden_path.policies._limits._windows import scope_label, window


def _at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("period", "when", "name", "start", "end"),
    [
        ("day", "2028-02-28T23:59:59.999", "d2028-02-28", "2028-02-28", "2028-02-29"),
        ("day", "2028-02-29T00:00:00", "d2028-02-29", "2028-02-29", "2028-03-01"),
        ("month", "2028-02-29T23:59:59.999", "mo2028-02", "2028-02-01", "2028-03-01"),
        ("month", "2028-03-01T00:00:00", "mo2028-03", "2028-03-01", "2028-04-01"),
        ("month", "2027-12-31T12:00:00", "mo2027-12", "2027-12-01", "2028-01-01"),
    ],
)
def test_calendar_windows_at_their_edges(
    period: str, when: str, name: str, start: str, end: str
) -> None:
    """Each side of midnight and of a month's end (leap February too) gets its own counter.

    The name, start and end are worked out once a day and cached; asking again, and asking
    for the moment before or after, must still give each moment its own window.
    """
    now = _at(when)
    for _ in range(2):  # the second time from the cache
        found = window(period, now)  # type: ignore[arg-type]
        assert found.current == name
        assert found.previous is None
        assert found.elapsed == pytest.approx(now - _at(start))
        assert found.length == _at(end) - _at(start)
        assert found.ends_in == pytest.approx(_at(end) - now)
        assert found.ttl_ms >= (_at(end) - now + 3600) * 1000


def test_scope_labels_quote_what_names_contain() -> None:
    """Labels stay unambiguous (and the same when asked again) whatever a team is called."""
    for _ in range(2):
        assert scope_label("team", team="a b/c", app=None, model=None) == "team=a%20b%2Fc"
        assert (
            scope_label("app+model", team=None, app="chat", model="m=1") == "app=chat+model=m%3D1"
        )
