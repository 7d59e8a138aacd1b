"""controller/dev/chaos/checks.py on made-up runs: each invariant catches what it is there for, and
the bound follows the rules (a fault extends it only when it began before it)."""
from __future__ import annotations

import dataclasses

from controller.dev.chaos.checks import SEEN_SECONDS, FaultRecord, Problem, SentCommand, bound, check_run
from controller.dev.chaos.fleet import Life
from controller.dev.chaos.observe import Invocation, Key, Shown
from controller.dev.chaos.plan import SMOKE, FaultKind
from controller.dev.chaos.script import Execution, marker

S = dataclasses.replace(SMOKE, execution_seconds=10, lost_grace=5.0, heartbeat_timeout=4.0, sweep_interval=1.0,
                        slack=3.0, delivery_timeout=20)
CID, NODE, OTHER = "c-1", "mi-1", "mi-2"
SENT = {CID: SentCommand(CID, 1000.0)}


class Seen:
    def __init__(self, terminal: dict[Key, float], dispatched: dict[Key, float] | None = None) -> None:
        self._terminal, self._dispatched = terminal, dispatched or {}

    def first_terminal(self, key: Key) -> float | None:
        return self._terminal.get(key)

    def dispatched(self, key: Key) -> float | None:
        return self._dispatched.get(key)


def inv(detail: str = "Success", started: float | None = 1001.0, output: str | None = None,
        node: str = NODE) -> Invocation:
    return Invocation(CID, node, detail, started, marker(CID) if output is None else output, "")


def run(invs: list[Invocation], executions: dict[Key, Execution], terminal: dict[Key, float],
        faults: tuple[FaultRecord, ...] = (), life: Life | None = None, command: str = "Success"):
    return check_run(S, SENT, [Shown(CID, command, tuple(invs))], Seen(terminal), 2000.0, executions, faults,
                     lambda node, at: life or Life(900.0))


def ran(start: float = 1002.0, end: float | None = 1004.0, node: str = NODE, times: int = 1) -> dict[Key, Execution]:
    return {(CID, node): Execution(CID, node, (start,) * times, () if end is None else (end,))}


def test_a_clean_run_has_no_finding() -> None:
    v = run([inv()], ran(), {(CID, NODE): 1005.0})
    assert v.findings == () and v.invocations == 1 and v.closest is not None and v.closest > 0


def test_two_executions_of_one_command_on_one_node_are_a_duplicate() -> None:
    v = run([inv()], ran(times=2), {(CID, NODE): 1005.0})
    assert [f.problem for f in v.findings] == [Problem.DUPLICATED]


def test_an_execution_where_the_command_was_not_sent_is_stray() -> None:
    v = run([inv()], {**ran(), **ran(node=OTHER)}, {(CID, NODE): 1005.0})
    assert [(f.problem, f.node_id) for f in v.findings] == [(Problem.STRAY, OTHER)]


def test_a_result_its_agent_saw_must_be_stored_with_its_output() -> None:
    for stored in (inv("Failed"), inv("AgentLost"), inv(output="")):
        v = run([stored], ran(), {(CID, NODE): 1005.0})
        assert [f.problem for f in v.findings] == [Problem.LOST], stored


def test_an_execution_that_ran_needs_the_agents_own_report_even_without_an_end() -> None:
    v = run([inv("DeliveryTimedOut")], ran(end=None), {(CID, NODE): 1005.0})
    assert [f.problem for f in v.findings] == [Problem.LOST]
    assert run([inv("Failed")], ran(end=None), {(CID, NODE): 1005.0}).findings == ()


def test_success_without_an_end_seen_by_a_living_agent_is_made_up() -> None:
    assert [f.problem for f in run([inv()], ran(end=None), {(CID, NODE): 1005.0}).findings] == [Problem.MADE_UP]
    assert [f.problem for f in run([inv()], {}, {(CID, NODE): 1005.0}).findings] == [Problem.MADE_UP]
    died = Life(900.0, ended=1003.0)  # the script ended after its agent died: no life of it saw the end
    assert [f.problem for f in run([inv()], ran(end=1004.0), {(CID, NODE): 1005.0}, life=died).findings] \
        == [Problem.MADE_UP]


def test_an_end_just_before_the_agent_died_allows_either_outcome() -> None:
    died = Life(900.0, ended=1004.0 + SEEN_SECONDS / 2)
    for stored in (inv(), inv("Failed", output="")):
        v = run([stored], ran(end=1004.0), {(CID, NODE): 1005.0}, life=died)
        assert v.findings == () and v.unsure == 1


def test_late_and_never_terminal_and_open_commands_are_found() -> None:
    assert bound(inv(), SENT[CID], S, ()) == 1001 + 1 + 10 + 5 + 4 + 1 + 3
    v = run([inv()], ran(), {(CID, NODE): 1030.0})
    assert [f.problem for f in v.findings] == [Problem.LATE]
    v = run([inv("InProgress")], ran(end=None), {}, command="InProgress")
    assert {f.problem for f in v.findings} == {Problem.LATE, Problem.LOST, Problem.OPEN}


def test_an_unaccepted_invocation_is_bounded_by_its_delivery_deadline() -> None:
    assert bound(inv("DeliveryTimedOut", started=None), SENT[CID], S, ()) == 1000 + 20 + 1 + 3
    down = FaultRecord(FaultKind.CONTROLLER_KILL, 1015.0, 1040.0, (), None)  # down over the deadline
    assert bound(inv("DeliveryTimedOut", started=None), SENT[CID], S, (down,)) == 1040 + down.reconnect + 1 + 3
    agent = FaultRecord(FaultKind.AGENT_KILL, 1015.0, 1040.0, ("a01",), frozenset({NODE}))
    assert bound(inv("DeliveryTimedOut", started=None), SENT[CID], S, (agent,)) == 1000 + 20 + 1 + 3
    # accepted, it is bounded by its deadline at least (the controller may never have heard of the acceptance)
    assert bound(inv(started=1001.0), SENT[CID], dataclasses.replace(S, delivery_timeout=60), ()) == 1000 + 60 + 1 + 3


def test_a_fault_extends_the_bound_only_when_it_began_before_it() -> None:
    plain = bound(inv(), SENT[CID], S, ())
    cut = FaultRecord(FaultKind.PROXY_CUT, 1010.0, 1015.0, ("a01",), frozenset({NODE}))
    assert bound(inv(), SENT[CID], S, (cut,)) == max(1012.0, 1015.0 + cut.reconnect) + 5 + 4 + 1 + 3
    later = FaultRecord(FaultKind.PROXY_CUT, plain + 1, plain + 5, ("a01",), frozenset({NODE}))
    elsewhere = FaultRecord(FaultKind.PROXY_CUT, 1010.0, 1015.0, ("a02",), frozenset({OTHER}))
    assert bound(inv(), SENT[CID], S, (later, elsewhere)) == plain


def test_fault_to_terminal_counts_faults_that_struck_while_the_invocation_was_out() -> None:
    cut = FaultRecord(FaultKind.PROXY_CUT, 1003.0, 1004.0, ("a01",), frozenset({NODE}))
    before = FaultRecord(FaultKind.CONTROLLER_KILL, 990.0, 995.0, (), None)
    v = run([inv()], ran(), {(CID, NODE): 1006.0}, faults=(cut, before))
    assert v.longest is not None and v.longest.seconds == 3.0 and v.longest.kind is FaultKind.PROXY_CUT
    assert dict(v.longest_by_kind) == {FaultKind.PROXY_CUT: 3.0}


def test_a_stall_of_the_machine_within_the_window_extends_the_bound_and_only_by_itself() -> None:
    limit = bound(inv(), SENT[CID], S, ())
    late = {(CID, NODE): limit + 5}
    assert [f.problem for f in run([inv()], ran(), late).findings] == [Problem.LATE]

    def stalled(seconds: float, at: float):
        return lambda start, end: max(0.0, min(end, at + seconds) - max(start, at))
    ok = check_run(S, SENT, [Shown(CID, "Success", (inv(),))], Seen(late), 2000.0, ran(), (),
                   lambda node, at: Life(900.0), stalled(6.0, 1010.0))
    assert ok.findings == ()
    short = check_run(S, SENT, [Shown(CID, "Success", (inv(),))], Seen(late), 2000.0, ran(), (),
                      lambda node, at: Life(900.0), stalled(4.0, 1010.0))
    before = check_run(S, SENT, [Shown(CID, "Success", (inv(),))], Seen(late), 2000.0, ran(), (),
                       lambda node, at: Life(900.0), stalled(60.0, 900.0))  # over before it was sent
    assert [f.problem for f in short.findings] == [Problem.LATE] == [f.problem for f in before.findings]
