"""SSM's rate control and command status, as pure logic: limits, counting, stopping, statuses."""
from __future__ import annotations

import random

import pytest

from controller.dispatch.ratecontrol import CommandRun, command_detail, counts
from controller.model import parse_limit
from plugins.sdk.errors import InputError
from plugins.sdk.status import Detail

D = Detail


@pytest.mark.parametrize(("text", "targets", "minimum", "want"), [
    ("50", 10, 1, 50), ("1", 10, 1, 1), ("10%", 50, 1, 5), ("10%", 25, 1, 3), ("1%", 10, 1, 1),
    ("100%", 7, 1, 7), ("0", 50, 0, 0), ("10%", 50, 0, 5), ("10%", 25, 0, 2), ("0%", 50, 0, 0), ("5%", 10, 0, 0),
])
def test_parse_limit(text: str, targets: int, minimum: int, want: int) -> None:
    assert parse_limit(text, targets, where="x", minimum=minimum) == want


@pytest.mark.parametrize(("text", "minimum", "message"), [
    ("0", 1, "x: must be at least 1, got 0"),
    ("0%", 1, "x: a percentage must be 1%..100%, got 0%"),
    ("101%", 0, "x: a percentage must be 0%..100%, got 101%"),
    ("-1", 0, "x: expected a number or a percentage such as 10%, got '-1'"),
    ("ten", 0, "x: expected a number or a percentage such as 10%, got 'ten'"),
])
def test_parse_limit_errors(text: str, minimum: int, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_limit(text, 10, where="x", minimum=minimum)
    assert str(exc.value) == message


def test_never_more_than_max_concurrency_in_flight() -> None:
    run = CommandRun("c", max_concurrency=3, max_errors=100)
    run.queue.extend(f"n{i}" for i in range(10))
    assert run.next_batch() == ["n0", "n1", "n2"]
    assert run.next_batch() == []
    run.finished("n1", D.SUCCESS)
    assert run.next_batch() == ["n3"]
    assert len(run.in_flight) == 3


def test_ssm_worked_example_50_targets_10_percent_stops_at_the_sixth_error() -> None:
    max_errors = parse_limit("10%", 50, where="max_errors", minimum=0)
    run = CommandRun("c", max_concurrency=1, max_errors=max_errors)
    run.queue.extend(f"n{i:02}" for i in range(50))
    started = []
    while batch := run.next_batch():
        (node,) = batch
        started.append(node)
        run.finished(node, D.FAILED)
    assert len(started) == 6 and run.errors == 6 and run.stopped
    terminated = run.never_to_start()
    assert len(terminated) == 44 and not run.queue


def test_only_failed_and_execution_timed_out_count_as_errors() -> None:
    run = CommandRun("c", max_concurrency=10, max_errors=0)
    run.queue.extend(["a", "b", "c", "d", "e"])
    run.next_batch()
    harmless = [D.DELIVERY_TIMED_OUT, D.UNDELIVERABLE, D.INVALID_PLATFORM, D.ACCESS_DENIED]
    for node, detail in zip("abcd", harmless, strict=True):
        run.finished(node, detail)
    assert run.errors == 0 and not run.stopped
    run.finished("e", D.EXECUTION_TIMED_OUT)
    assert run.errors == 1 and run.stopped


def test_random_interleavings_never_break_the_limits() -> None:
    rng = random.Random(7)
    for trial in range(300):
        n = rng.randint(1, 60)
        conc, max_errors = rng.randint(1, 12), rng.randint(0, 5)
        run = CommandRun("c", conc, max_errors)
        run.queue.extend(f"n{i}" for i in range(n))
        running: list[str] = list(run.next_batch())
        ended: dict[str, Detail] = {}
        errors_at_stop = None
        while running:
            assert len(run.in_flight) <= conc
            node = running.pop(rng.randrange(len(running)))
            detail = rng.choice([D.SUCCESS, D.SUCCESS, D.FAILED, D.EXECUTION_TIMED_OUT, D.DELIVERY_TIMED_OUT])
            ended[node] = detail
            run.finished(node, detail)
            if run.stopped and errors_at_stop is None:
                errors_at_stop = run.errors
            for t in run.never_to_start():
                ended[t] = D.TERMINATED
            batch = run.next_batch()
            assert not (run.stopped and batch), trial  # once past max-errors nothing new starts
            running += batch
        errors = sum(d.is_error for d in ended.values())
        assert errors == run.errors, trial
        assert len(ended) == n, trial  # every target ended: ran, or terminated
        if errors > max_errors:
            # only invocations already running when the limit was crossed could add errors after it
            assert errors_at_stop == max_errors + 1 and errors <= max_errors + conc, trial
        else:
            assert D.TERMINATED not in ended.values(), trial


def test_resume_rebuilds_queue_in_flight_and_errors() -> None:
    run = CommandRun.resume("c", 2, 0, False, [("n3", D.PENDING), ("n1", D.IN_PROGRESS), ("n2", D.FAILED),
                                               ("n4", D.DELAYED), ("n0", D.PENDING)])
    assert list(run.queue) == ["n0", "n3"] and run.in_flight == {"n1", "n4"} and run.errors == 1 and run.stopped


@pytest.mark.parametrize(("details", "max_errors", "cancel", "want"), [
    ([], 0, False, D.NO_INSTANCES_IN_TAG),
    ([D.PENDING, D.PENDING], 0, False, D.PENDING),
    ([D.PENDING, D.IN_PROGRESS], 0, False, D.IN_PROGRESS),
    ([D.DELAYED], 0, False, D.IN_PROGRESS),
    ([D.SUCCESS, D.IN_PROGRESS], 0, True, D.CANCELLING),
    ([D.SUCCESS, D.CANCELLED], 0, True, D.CANCELLED),
    ([D.SUCCESS, D.SUCCESS], 0, False, D.SUCCESS),
    ([D.SUCCESS] + [D.UNDELIVERABLE] * 4, 0, False, D.SUCCESS),  # SSM's own example
    ([D.UNDELIVERABLE] * 3, 0, False, D.FAILED),  # SSM's own example
    ([D.SUCCESS, D.FAILED], 0, False, D.FAILED),
    ([D.SUCCESS, D.FAILED], 1, False, D.INCOMPLETE),
    ([D.SUCCESS, D.EXECUTION_TIMED_OUT], 0, False, D.EXECUTION_TIMED_OUT),
    ([D.SUCCESS, D.DELIVERY_TIMED_OUT], 0, False, D.INCOMPLETE),
    ([D.DELIVERY_TIMED_OUT, D.DELIVERY_TIMED_OUT], 0, False, D.DELIVERY_TIMED_OUT),
    ([D.FAILED] * 6 + [D.TERMINATED] * 44, 5, False, D.FAILED),
])
def test_command_detail(details: list[Detail], max_errors: int, cancel: bool, want: Detail) -> None:
    assert command_detail(details, max_errors=max_errors, cancel_requested=cancel) is want


def test_counts() -> None:
    c = counts([D.SUCCESS, D.FAILED, D.EXECUTION_TIMED_OUT, D.DELIVERY_TIMED_OUT, D.IN_PROGRESS, D.TERMINATED])
    assert (c.targets, c.completed, c.errors, c.delivery_timed_out) == (6, 5, 2, 1)


# ---------------------------------------------------------------------- forecast


def _run(details: dict[str, Detail], max_errors: int = 0) -> CommandRun:
    run = CommandRun("c", max_concurrency=10, max_errors=max_errors)
    for node_id, detail in details.items():
        run.track(node_id, detail)
    return run


@pytest.mark.parametrize(("before", "reported", "moved", "detail", "completed", "errors"), [
    # every result taken: the command ends
    ({"a": D.IN_PROGRESS, "b": D.SUCCESS}, [("a", D.SUCCESS)], {"a": D.SUCCESS}, D.SUCCESS, 2, 0),
    # a failure past max-errors 0
    ({"a": D.IN_PROGRESS, "b": D.SUCCESS}, [("a", D.FAILED)], {"a": D.FAILED}, D.FAILED, 2, 1),
    # one still running: InProgress, one completed
    ({"a": D.IN_PROGRESS, "b": D.IN_PROGRESS}, [("a", D.SUCCESS)], {"a": D.SUCCESS}, D.IN_PROGRESS, 1, 0),
    # a terminal invocation does not move again (the store's state machine refuses it)
    ({"a": D.SUCCESS}, [("a", D.FAILED)], {}, D.SUCCESS, 1, 0),
    # an unknown node moves nothing; the same report twice moves once
    ({"a": D.IN_PROGRESS}, [("zz", D.SUCCESS), ("a", D.SUCCESS), ("a", D.SUCCESS)], {"a": D.SUCCESS}, D.SUCCESS, 1, 0),
])
def test_forecast_counts_what_storing_the_reports_will_make(
        before: dict[str, Detail], reported: list[tuple[str, Detail]], moved: dict[str, Detail], detail: Detail,
        completed: int, errors: int) -> None:
    run = _run(before)
    got_moved, got_detail, got = run.forecast(reported)
    assert (got_moved, got_detail, got.completed, got.errors) == (moved, detail, completed, errors)
    assert run.details == before and run.counts().completed == sum(d.terminal for d in before.values())


def test_a_forecast_agrees_with_tracking_the_same_reports() -> None:
    rng = random.Random(7)
    choices = [D.SUCCESS, D.FAILED, D.EXECUTION_TIMED_OUT, D.IN_PROGRESS, D.CANCELLED]
    for _ in range(200):
        run = _run({f"n{i}": rng.choice([D.PENDING, D.IN_PROGRESS, D.DELAYED, D.SUCCESS]) for i in range(6)},
                   max_errors=rng.randint(0, 2))
        reported = [(f"n{rng.randint(0, 6)}", rng.choice(choices)) for _ in range(5)]
        moved, detail, c = run.forecast(reported)
        for node_id, d in moved.items():
            run.track(node_id, d)
        assert (detail, c) == (run.command_detail(), run.counts())
