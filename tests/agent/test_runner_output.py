"""agent.runner: a step's output, its context and work dir, and the ledger's record before the first
step starts, with the fake plugins of tests/agent/runner_harness.py."""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from agent.runner import TRUNCATED_MARKER, NotRecorded, RunnerOptions, remove_workdir
from plugins.sdk.secrets import MASK
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import Step
from plugins.sdk.wire.results import InvocationReport
from tests.agent.runner_harness import (
    CID,
    ERR,
    NODE,
    OUT,
    Harness,
    LogPlugin,
    command,
    fail,
    ok,
    only_on,
)

# -------------------------------------------------------------------------------------- output

def test_output_chunks_are_numbered_per_stream_from_zero(h: Harness) -> None:
    h.run(Step("one", "write", {"stdout": ["a", "b", "c"], "stderr": ["x", "y"]}),
          Step("two", "write", {"stdout": ["d"], "stderr": ["z"]}))
    assert h.chunks() == [("one", OUT, 0, b"a"), ("one", OUT, 1, b"b"), ("one", OUT, 2, b"c"),
                          ("one", ERR, 0, b"x"), ("one", ERR, 1, b"y"),
                          ("two", OUT, 0, b"d"), ("two", ERR, 0, b"z")]
    kinds = [type(m).__name__ for m in h.messages()]
    # each step's chunks come before its result, the invocation's result last, carrying the last step
    # (one message fewer per invocation: a fan-out's single-step documents send no step result at all)
    assert kinds == ["OutputChunk"] * 5 + ["StepReport"] + ["OutputChunk"] * 2 + ["InvocationReport"]
    assert [st.step_name for st in h.messages()[-1].steps] == ["one", "two"]
    assert all(m.command_id == CID for m in h.messages())


def test_empty_writes_send_nothing_and_take_no_number(h: Harness) -> None:
    h.run(Step("one", "write", {"stdout": ["", "a", "", "b"]}))
    assert h.chunks() == [("one", OUT, 0, b"a"), ("one", OUT, 1, b"b")]


def test_output_over_the_cap_is_truncated_with_a_marker(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(output_cap_bytes=10))
    h.run(Step("one", "write", {"stdout": ["12345678", "abcdef", "more", "and more"], "stderr": ["0123456789AB"]}),
          Step("two", "write", {"stdout": ["0123456789"]}))
    assert TRUNCATED_MARKER == b"\n--output truncated--\n"
    assert h.chunks() == [("one", OUT, 0, b"12345678"), ("one", OUT, 1, b"ab" + TRUNCATED_MARKER),
                          ("one", ERR, 0, b"0123456789" + TRUNCATED_MARKER),
                          ("two", OUT, 0, b"0123456789")]  # each step has its own cap; exactly the cap fits
    assert [r.detail for r in h.reports()] == [Detail.SUCCESS] * 3  # truncation does not fail the step


def test_output_after_exactly_reaching_the_cap_is_marked_truncated(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(output_cap_bytes=4))
    h.run(Step("one", "write", {"stdout": ["abcd", "efgh"]}))
    data = b"".join(d for _, _, _, d in h.chunks())
    assert data == b"abcd" + TRUNCATED_MARKER


def test_secret_values_are_scrubbed_from_output(h: Harness) -> None:
    env = {"TOKEN": "s3cr3t-k", "PASSWORD": "hunter2-x", "REGION": "eu-west-1"}
    h.run(Step("one", "write", {"stdout": ["token=s3cr3t-k;", "region=eu-west-1", "s3cr3t-ks3cr3t-k"],
                                "stderr": ["auth failed for hunter2-x\n"]}),
          Step("two", "write", {"stdout": ["again s3cr3t-k"]}),
          environment=env, secret_names=("TOKEN", "PASSWORD"))
    assert MASK == "********"
    assert h.joined() == {("one", OUT): b"token=********;region=eu-west-1****************",
                          ("one", ERR): b"auth failed for ********\n", ("two", OUT): b"again ********"}
    assert all([seq for (st, s, seq, _) in h.chunks() if (st, s) == key] == list(range(len(
        [1 for (st, s, _, _) in h.chunks() if (st, s) == key]))) for key in h.joined())
    # the plugins themselves get the real values in their environment
    assert {k: h.rec.contexts[0].environment[k] for k in env} == env


def test_a_secret_split_across_writes_is_masked_and_the_longest_secret_wins(h: Harness) -> None:
    env = {"A": "abc12345", "B": "abc12345def"}
    h.run(Step("one", "write", {"stdout": ["key=abc12", "345def and abc1", "2345!", "x" * 100]}),
          environment=env, secret_names=("A", "B"))
    assert h.joined() == {("one", OUT): b"key=******** and ********!" + b"x" * 100}


def test_output_is_not_scrubbed_of_values_that_are_not_secret(h: Harness) -> None:
    h.run(Step("one", "write", {"stdout": ["region=eu-west-1"]}), environment={"REGION": "eu-west-1"})
    assert h.chunks() == [("one", OUT, 0, b"region=eu-west-1")]


def test_scrubbing_comes_before_the_output_cap(tmp_path: Path) -> None:
    h = Harness(tmp_path / "work", RunnerOptions(output_cap_bytes=10))
    h.run(Step("one", "write", {"stdout": ["ab", "a-long-secret-value"]}),
          environment={"S": "a-long-secret-value"}, secret_names=("S",))
    assert b"".join(d for _, _, _, d in h.chunks()) == b"ab********"  # 10 bytes: exactly the cap fits


# ----------------------------------------------------------------------------- context and workdir

def test_the_run_context(h: Harness) -> None:
    h.run(ok("first"), ok("second"), environment={"APP_ENV": "prod"})
    ctx = h.rec.contexts[1]
    assert (ctx.command_id, ctx.node_id, ctx.step_name, ctx.step_index, ctx.check_mode) == (
        CID, NODE, "second", 1, False)
    assert ctx.cancel_grace_seconds == 0.5
    assert Path(ctx.workdir) == h.work_root / CID
    assert ctx.environment["OUTPOST_COMMAND_ID"] == CID
    assert ctx.environment["OUTPOST_NODE_ID"] == NODE
    assert ctx.environment["OUTPOST_STEP_NAME"] == "second"
    assert ctx.environment["APP_ENV"] == "prod"  # the document's environment
    assert ctx.environment.get("PATH") == os.environ.get("PATH")


def test_the_documents_environment_cannot_override_the_outpost_variables(h: Harness) -> None:
    h.run(ok("first"), environment={"OUTPOST_COMMAND_ID": "forged", "OUTPOST_STEP_NAME": "forged"})
    ctx = h.rec.contexts[0]
    assert (ctx.environment["OUTPOST_COMMAND_ID"], ctx.environment["OUTPOST_STEP_NAME"]) == (CID, "first")


@pytest.mark.parametrize("steps", [
    (ok("a"), ok("b")),
    (fail("a"),),
    (Step("a", "crash", {}),),
    (Step("a", "sleep", {"seconds": 30, "timeout_seconds": 0.05}),),
], ids=["success", "failure", "crash", "timeout"])
def test_the_workdir_exists_during_the_run_and_is_removed_after(h: Harness, steps: tuple[Step, ...]) -> None:
    h.run(*steps)
    assert h.rec.workdir_existed and all(h.rec.workdir_existed)
    assert not (h.work_root / CID).exists()
    assert h.work_root.is_dir()  # only the command's own directory goes


def test_a_plugin_that_needs_no_workdir_gets_none_until_one_that_does_runs(h: Harness) -> None:
    h.run(Step("a", "no-files", {}), ok("b"), Step("c", "no-files", {}))
    assert h.rec.workdir_existed == [False, True, True]  # made (private) for "b", kept to the end
    assert not (h.work_root / CID).exists()
    h.run(Step("a", "no-files", {}), cid="cmd-2")
    assert h.rec.workdir_existed[-1] is False and not (h.work_root / "cmd-2").exists()


def test_two_commands_have_separate_workdirs_and_reports(h: Harness) -> None:
    async def both() -> tuple[InvocationReport, InvocationReport]:
        runner = h.runner()
        return await asyncio.gather(runner.run(command("cmd-a", ok("x")), lambda: False),
                                    runner.run(command("cmd-b", fail("y", 9)), lambda: False))

    a, b = asyncio.run(both())
    assert (a.command_id, a.detail, b.command_id, b.detail, b.exit_code) == (
        "cmd-a", Detail.SUCCESS, "cmd-b", Detail.FAILED, 9)
    assert sorted(Path(c.workdir).name for c in h.rec.contexts) == ["cmd-a", "cmd-b"]
    assert h.outbox.unacknowledged() == {"cmd-a", "cmd-b"}


@pytest.mark.parametrize("content", [None, [], ["a.tmp"], ["sub/b.tmp", "c.tmp"]])
def test_remove_workdir_removes_it_empty_or_not_and_minds_no_absent_one(tmp_path: Path,
                                                                        content: list[str] | None) -> None:
    workdir = tmp_path / "cmd-1"
    if content is not None:
        workdir.mkdir()
        for name in content:
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (workdir / name).write_text("x")
    remove_workdir(str(workdir))
    assert not workdir.exists() and tmp_path.exists()


# ------------------------------------------------------------------------------- the ledger's record


@pytest.mark.parametrize(("steps", "ran"), [((ok("first"), ok("second")), ["first", "second"]),
                                           ((only_on("Windows", "elsewhere"), ok("first")), ["first"])])
def test_the_first_step_starts_only_once_the_command_is_recorded(h: Harness, steps: tuple[Step, ...],
                                                                 ran: list[str]) -> None:
    async def scenario() -> tuple[list[str], InvocationReport]:
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(h.runner().run(command(CID, *steps), lambda: False, recorded))
        for _ in range(20):  # the first step is set up, then waits for the ledger
            await asyncio.sleep(0)
        before = list(h.rec.steps)
        recorded.set_result(True)
        return before, await asyncio.wait_for(task, 10)
    before, result = asyncio.run(scenario())
    assert before == [] and h.rec.steps == ran
    assert result.detail is Detail.SUCCESS


@pytest.mark.parametrize("steps", [(ok("first"),), (only_on("Windows", "elsewhere"),),
                                   (only_on("Windows", "w"), ok("x"))])
def test_a_command_the_ledger_did_not_record_runs_nothing_and_reports_nothing(h: Harness,
                                                                              steps: tuple[Step, ...]) -> None:
    async def scenario() -> None:
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        recorded.set_result(False)
        await h.runner().run(command(CID, *steps), lambda: False, recorded)
    with pytest.raises(NotRecorded, match=f"command {CID} is not in the ledger"):
        asyncio.run(scenario())
    assert h.rec.steps == []
    assert not [m for m in h.messages() if isinstance(m, InvocationReport)]  # the agent's refusal says it all


def test_a_plugin_s_log_lines_never_show_the_command_s_secrets(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """The process's scrubber (installed on its log handlers) holds the secrets while the command runs."""
    h = Harness(tmp_path / "work", extra=(LogPlugin,))
    caplog.handler.addFilter(h.scrubber)
    try:
        with caplog.at_level(logging.WARNING, logger="agent.runner"):
            h.run(Step("one", "log", {"stdout": ["token is s3cr3t-k"]}), environment={"TOKEN": "s3cr3t-k"},
                  secret_names=("TOKEN",))
    finally:
        caplog.handler.removeFilter(h.scrubber)
    assert [r.getMessage() for r in caplog.records if r.name == "agent.runner"] == \
        ["[command=cmd-0001 node=node-7 step=one] token is ********"]
    assert h.scrubber.held == frozenset()  # released with the command
