"""The client-side filters of `command list` and `node list` (controller/cli/filters.py)."""
from __future__ import annotations

import pytest

from controller.cli.filters import STATUSES, CommandFilter, NodeFilter, parse_tag, parse_timestamp, tag_problem

ROW = {"status": "TimedOut", "status_detail": "ExecutionTimedOut", "document": "Outpost-RunShellScript"}
NODE = {"ping_status": "Online", "platform": "Linux", "agent_version": "1.2.3", "tags": {"Role": "web", "Env": "dev"}}


def test_timestamps_are_iso_8601_utc_unless_zoned() -> None:
    assert parse_timestamp("1970-01-01T00:00:01Z") == 1000
    assert parse_timestamp("1970-01-01T00:00:01") == 1000
    assert parse_timestamp("1970-01-01T01:00:00+01:00") == 0
    assert parse_timestamp("1970-01-02") == 86_400_000
    for bad in ("", "-1", "abc", "99999999999999999999", "7d", "2026-13-01", "2026-01-01T25:00"):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_timestamp(bad)


def test_statuses_are_ssm_statuses_and_details() -> None:
    assert {"Pending", "InProgress", "Success", "Failed", "Cancelled", "TimedOut", "DeliveryTimedOut",
            "Undeliverable"} <= set(STATUSES)
    assert len(STATUSES) == len(set(STATUSES))


def test_command_filter_matches_status_or_detail_in_any_case() -> None:
    assert CommandFilter("timedout").matches(ROW, 0) and CommandFilter("executiontimedout").matches(ROW, 0)
    assert not CommandFilter("Failed").matches(ROW, 0)
    assert CommandFilter(document="outpost-runshellscript").matches(ROW, 0)
    assert not CommandFilter(document="Other").matches(ROW, 0)
    assert not CommandFilter().any and CommandFilter(after_ms=0).any


def test_command_filter_times_are_inclusive() -> None:
    f = CommandFilter(after_ms=100, before_ms=200)
    assert [f.matches(ROW, t) for t in (99, 100, 200, 201)] == [False, True, True, False]


def test_tags() -> None:
    assert parse_tag(" Role = web ") == ("Role", "web") and parse_tag("Empty=") == ("Empty", "")
    assert parse_tag("K=a=b") == ("K", "a=b")
    assert tag_problem("Role") and tag_problem("=web") and tag_problem("Role=web") is None


def test_node_filter() -> None:
    assert NodeFilter("online", "linux", "1.2.3", (("Role", "web"), ("Env", "dev"))).matches(NODE)
    assert not NodeFilter(ping_status="ConnectionLost").matches(NODE)
    assert not NodeFilter(platform="Windows").matches(NODE)
    assert not NodeFilter(agent_version="1.2").matches(NODE)
    assert not NodeFilter(tags=(("Role", "web"), ("Env", "prod"))).matches(NODE)
    assert not NodeFilter(tags=(("Missing", ""),)).matches(NODE)
