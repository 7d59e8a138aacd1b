"""End to end: document parameters, output views, following and waiting, groups and tags, and a
playbook running a stored document; real controller and agents driven through the CLI.

One fleet for the module: three Linux agents, ``web`` (Role=web), ``db`` (Role=db) and ``plain``
(no Role tag). Tests that change tags put them back.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.docrun import (
    AgentSpec,
    all_logs_text,
    by_node,
    command_ids,
    create_document,
    output,
    popen_outpost,
    run,
    send,
    show,
    start_fleet,
    wait_terminal,
    write_file,
)

ALL = "Key=tag:Environment,Values=dev"
WEB = "Key=tag:Role,Values=web"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("parameters"))
    c.init()
    try:
        start_fleet(c, [AgentSpec("web", "Environment=dev,Role=web"), AgentSpec("db", "Environment=dev,Role=db"),
                        AgentSpec("plain", "Environment=dev")])
        yield c
    finally:
        c.close()


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest, fleet: Cluster) -> Iterator[None]:
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(fleet.logs())


def _id(c: Cluster, name: str) -> str:
    return c.node_ids[name]


def _stdout(c: Cluster, command_id: str, node: str, *extra: str) -> str:
    return "".join(s["stdout"] for s in output(c, command_id, _id(c, node), *extra))


def _refused(c: Cluster, *argv: str) -> str:
    """``command send ARGV`` is refused and sends nothing; its stderr."""
    before = command_ids(c)
    proc = c.outpost("command", "send", *argv, check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert command_ids(c) == before, "a refused send created a command"
    return proc.stderr


# ------------------------------------------------------------------------------ validation before dispatch

CHECKED = ('schemaVersion: "2.2"\n'
           "parameters:\n"
           "  name: {type: String, allowedPattern: '^[a-z]+$'}\n"
           "  color: {type: String, allowedValues: [red, blue], default: red}\n"
           "  count: {type: Integer, default: 1}\n"
           "mainSteps:\n"
           "  - action: aws:runShellScript\n"
           "    name: show\n"
           "    inputs: {runCommand: ['echo {{ name }} {{ color }} {{ count }}']}\n")


@pytest.fixture(scope="module")
def checked_document(fleet: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    create_document(fleet, tmp_path_factory.mktemp("checked"), "Checked-Params", CHECKED)
    return "Checked-Params"


@pytest.mark.parametrize(("params", "needles"), [
    (["name=Not Lower"], ["parameters.name", "allowedPattern", "^[a-z]+$", "'Not Lower'"]),
    (["name=ok", "color=green"], ["parameters.color", "must be one of red, blue", "'green'"]),
    (["name=ok", "colour=red"], ["parameters.colour", "declares no such parameter", "declared: name, color, count"]),
    ([], ["parameters.name", "missing required parameter"]),
    (["name=ok", "count=twelve"], ["parameters.count", "expected an integer", "'twelve'"]),
    (["name=ok", "count=1.5"], ["parameters.count", "expected an integer"]),
], ids=["allowedPattern", "allowedValues", "undeclared", "missing-required", "integer-word", "integer-float"])
def test_a_bad_parameter_is_refused_before_anything_is_sent(fleet: Cluster, checked_document: str,
                                                            params: list[str], needles: list[str]) -> None:
    argv = ["--document", checked_document, "--targets", ALL]
    for p in params:
        argv += ["--parameters", p]
    stderr = _refused(fleet, *argv)
    for needle in needles:
        assert needle in stderr, (needle, stderr)


def test_good_parameters_run(fleet: Cluster, checked_document: str) -> None:
    shown = run(fleet, "--document", checked_document, "--parameters", "name=ok,count=42", "--targets", WEB)
    assert shown["status_detail"] == "Success", shown
    assert shown["parameters"] == {"count": ["42"], "name": ["ok"]}
    assert _stdout(fleet, shown["command_id"], "web") == "ok red 42\n"


# ------------------------------------------------------------------------------ injection

def test_env_var_interpolation_keeps_the_value_out_of_the_shell(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    pwned = Path(f"/tmp/outpost-pwned-{uuid.uuid4().hex}")
    payload = f"$(touch {pwned})"
    create_document(c, tmp_path, "Echo-Env", (
        'schemaVersion: "2.2"\nparameters:\n  value: {type: String, interpolationType: ENV_VAR}\n'
        "mainSteps:\n  - {action: aws:runShellScript, name: say, inputs: {runCommand: ['echo {{ value }}']}}\n"))
    try:
        shown = run(c, "--document", "Echo-Env", "--parameters", f"value={payload}", "--targets", WEB)
        assert shown["status_detail"] == "Success", shown
        assert _stdout(c, shown["command_id"], "web") == payload + "\n"
        assert not pwned.exists(), "the ENV_VAR value ran as code"
    finally:
        pwned.unlink(missing_ok=True)

    # the contrast: SSM's default TEXT interpolation pastes the value into the script, and it runs
    contrast = tmp_path / "text-interpolation-ran"
    create_document(c, tmp_path, "Echo-Text", (
        'schemaVersion: "2.2"\nparameters:\n  value: {type: String}\n'
        "mainSteps:\n  - {action: aws:runShellScript, name: say, inputs: {runCommand: ['echo {{ value }}']}}\n"))
    shown = run(c, "--document", "Echo-Text", "--parameters", f"value=$(touch {contrast})", "--targets", WEB)
    assert shown["status_detail"] == "Success", shown
    assert contrast.exists(), "TEXT interpolation should have run the substitution (SSM's injection risk)"
    assert _stdout(c, shown["command_id"], "web") == "\n"


def test_an_env_var_value_is_one_word_never_split_or_globbed(fleet: Cluster, tmp_path: Path) -> None:
    """Issue 18: `touch DIR/{{ name }}` with `name=ok.txt ELSEWHERE` made a file outside DIR, and
    `name=*` expanded; the reference is one quoted word now."""
    c = fleet
    inside, elsewhere = tmp_path / "inside", tmp_path / "elsewhere"
    inside.mkdir()
    (inside / "existing").write_text("")
    create_document(c, tmp_path, "Touch-Env", (
        'schemaVersion: "2.2"\nparameters:\n  name: {type: String, interpolationType: ENV_VAR}\n'
        "mainSteps:\n  - {action: aws:runShellScript, name: t, inputs: {runCommand: ['touch "
        + str(inside) + "/{{ name }}']}}\n"))
    shown = run(c, "--document", "Touch-Env", "--parameters", f"name=ok.txt {elsewhere}", "--targets", WEB)
    assert shown["status_detail"] == "Failed", shown  # one name, "ok.txt /.../elsewhere": no such directory
    assert not elsewhere.exists() and not (inside / "ok.txt").exists()
    shown = run(c, "--document", "Touch-Env", "--parameters", "name=*", "--targets", WEB)
    assert shown["status_detail"] == "Success", shown
    assert sorted(p.name for p in inside.iterdir()) == ["*", "existing"]  # the name *, no glob


def test_playbook_quote_filter_keeps_a_value_out_of_the_shell(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    marker = tmp_path / "quoted-ran"
    value = f"hello; touch {marker}"
    book = write_file(tmp_path, "quote.yml", (
        "- name: quoting\n"
        "  targets: {tags: {Role: web}}\n"
        f"  vars: {{x: {json.dumps(value)}}}\n"
        "  tasks:\n"
        "    - name: say\n"
        "      shell: echo {{ x | quote }}\n"))
    result = json.loads(c.outpost("playbook", "apply", str(book), "--output", "json").stdout)
    (play,) = result["plays"]
    assert play["status"] == "Success", play
    assert _stdout(c, play["command_id"], "web") == value + "\n"
    assert not marker.exists()


# ------------------------------------------------------------------------------ secrets

def test_a_secret_parameter_is_never_shown(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    doc_text = ('schemaVersion: "2.2"\n'
                "parameters:\n"
                "  token: {type: String, secret: true, interpolationType: ENV_VAR}\n"
                "mainSteps:\n"
                "  - action: aws:runShellScript\n"
                "    name: useToken\n"
                "    inputs:\n"
                "      runCommand:\n"
                "        - echo token={{ token }}\n"
                '        - echo "env=$OUTPOST_TOKEN" >&2\n'
                '        - test "${#OUTPOST_TOKEN}" = ' + str(len(secret)) + " && echo length-ok\n")
    create_document(c, tmp_path, "Secret-Token", doc_text)
    cid = send(c, "--document", "Secret-Token", "--parameters", f"token={secret}", "--targets", ALL)
    shown = wait_terminal(c, cid)
    assert shown["status_detail"] == "Success", shown
    assert shown["parameters"] == {"token": ["********"]}
    for node in ("web", "db", "plain"):
        rows = output(c, cid, _id(c, node))
        assert rows[0]["stdout"] == "token=********\nlength-ok\n", rows
        assert rows[0]["stderr"] == "env=********\n", rows
        full = output(c, cid, _id(c, node), "--full")
        assert secret not in json.dumps(full)

    seen = {
        "command show": c.outpost("command", "show", cid, "--output", "json").stdout,
        "command show (table)": c.outpost("command", "show", cid).stdout,
        "command list": c.outpost("command", "list", "--output", "json").stdout,
        "document show": c.outpost("document", "show", "Secret-Token", "--content", "--output", "json").stdout,
        "command logs": c.outpost("command", "logs", cid).stdout,
    }
    for where, text_out in seen.items():
        assert secret not in text_out, f"the secret appears in {where}"
    logs = sorted(c.root.glob("*.log"))
    assert {p.name for p in logs} >= {"controller.log", "agent-web.log", "agent-db.log", "agent-plain.log"}
    for log in logs:
        assert secret not in log.read_text(errors="replace"), f"the secret appears in {log.name}"
    assert secret not in all_logs_text(c)


# ------------------------------------------------------------------------------ output views

def test_output_views_truncate_at_24000_and_8000_and_full_has_everything(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet

    def emit(out: int, err: int) -> str:
        return f"head -c {out} /dev/zero | tr '\\\\0' o; head -c {err} /dev/zero | tr '\\\\0' e >&2"

    create_document(c, tmp_path, "Output-Sizes", (
        'schemaVersion: "2.2"\nmainSteps:\n'
        f'  - {{action: aws:runShellScript, name: exact, inputs: {{runCommand: ["{emit(24000, 8000)}"]}}}}\n'
        f'  - {{action: aws:runShellScript, name: over, inputs: {{runCommand: ["{emit(24001, 8001)}"]}}}}\n'))
    shown = run(c, "--document", "Output-Sizes", "--targets", WEB)
    assert shown["status_detail"] == "Success", shown
    cid, node = shown["command_id"], _id(c, "web")

    views = {s["step"]: s for s in output(c, cid, node)}
    assert set(views) == {"exact", "over"}
    expect = {"exact": (24000, False, 8000, False), "over": (24000, True, 8000, True)}
    for step, (out_len, out_trunc, err_len, err_trunc) in expect.items():
        v = views[step]
        assert (len(v["stdout"]), v["stdout_truncated"], len(v["stderr"]), v["stderr_truncated"]) == \
            (out_len, out_trunc, err_len, err_trunc), step
        assert set(v["stdout"]) == {"o"} and set(v["stderr"]) == {"e"}
    (over_full,) = output(c, cid, node, "--step", "over", "--full")
    assert (len(over_full["stdout"]), len(over_full["stderr"])) == (24001, 8001)
    assert not over_full["stdout_truncated"] and not over_full["stderr_truncated"]
    (exact_full,) = output(c, cid, node, "--step", "exact", "--full")
    assert (len(exact_full["stdout"]), len(exact_full["stderr"])) == (24000, 8000)
    (only_over,) = output(c, cid, node, "--step", "over")
    assert len(only_over["stdout"]) == 24000 and only_over["stdout_truncated"]

    # `command show` carries the same views, step by step
    (inv,) = show(c, cid)["invocations"]
    steps = {s["name"]: s for s in inv["steps"]}
    for step, (out_len, out_trunc, err_len, err_trunc) in expect.items():
        s = steps[step]
        assert (len(s["stdout"]), s["stdout_truncated"], len(s["stderr"]), s["stderr_truncated"]) == \
            (out_len, out_trunc, err_len, err_trunc), step
        assert s["stdout"] == views[step]["stdout"] and s["stderr"] == views[step]["stderr"]

    # the table form says which views are truncated
    table = c.outpost("command", "output", cid, "--node", node)
    assert "--- exact stdout ---" in table.stdout and "--- over stdout (truncated) ---" in table.stdout
    assert "--- over stderr (truncated) ---" in table.stderr


# ------------------------------------------------------------------------------ following and waiting

def test_logs_follow_prefixes_every_node_and_ends_with_the_command(fleet: Cluster) -> None:
    c = fleet
    cid = send(c, "--document", "Outpost-RunShellScript", "--targets", ALL,
               "--parameters", "commands=echo first $OUTPOST_NODE_ID",
               "--parameters", "commands=sleep 2",
               "--parameters", "commands=echo second $OUTPOST_NODE_ID")
    started = time.monotonic()
    follower = popen_outpost(c, "command", "logs", cid, "--follow")
    try:
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert time.monotonic() - started >= 1.0, "logs --follow ended before the command did"
    lines = out.splitlines()
    for name in ("web", "db", "plain"):
        nid = _id(c, name)
        assert f"{nid} | first {nid}" in lines, out
        assert f"{nid} | second {nid}" in lines, out
        assert lines.index(f"{nid} | first {nid}") < lines.index(f"{nid} | second {nid}")
    assert all(" | " in line for line in lines if line.strip()), out
    # the command ended by the time logs --follow returned
    assert show(c, cid)["status_detail"] == "Success"
    # without --follow, a finished command's logs print once and return
    again = c.outpost("command", "logs", cid).stdout.splitlines()
    assert sorted(again) == sorted(line for line in lines if line.strip())


def test_command_wait_exit_codes(fleet: Cluster) -> None:
    c = fleet
    ok = send(c, "--document", "Outpost-RunShellScript", "--parameters", "commands=sleep 1", "--targets", WEB)
    proc = c.outpost("command", "wait", ok, "--output", "json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status_detail"] == "Success"
    bad = send(c, "--document", "Outpost-RunShellScript", "--parameters", "commands=sleep 1; exit 4",
               "--targets", WEB)
    proc = c.outpost("command", "wait", bad, "--output", "json", check=False)
    assert proc.returncode == 1, proc.stderr
    row = json.loads(proc.stdout)
    assert row["status_detail"] == "Failed" and row["invocations"][0]["exit_code"] == 4
    # and on an already finished command
    assert c.outpost("command", "wait", ok, check=False).returncode == 0
    assert c.outpost("command", "wait", bad, check=False).returncode == 1
    # send --wait says the same
    assert c.outpost("command", "send", "--document", "Outpost-RunShellScript", "--parameters", "commands=exit 9",
                     "--targets", WEB, "--wait", check=False).returncode == 1


# ------------------------------------------------------------------------------ groups and tags

def test_groups_resolve_tags_at_send_time(fleet: Cluster) -> None:
    c = fleet
    web, plain = _id(c, "web"), _id(c, "plain")
    group = c.outpost_json("group", "create", "web", "--targets", WEB)
    assert group["targets"] == [WEB]
    assert {n["node_id"] for n in c.outpost_json("group", "show", "web")["nodes"]} == {web}
    try:
        tagged = c.outpost_json("node", "tag", plain, "Role=web")
        assert tagged["tags"] == {"Environment": "dev", "Role": "web"}
        assert {n["node_id"] for n in c.outpost_json("group", "show", "web")["nodes"]} == {web, plain}
        shown = run(c, "--document", "Outpost-RunShellScript", "--parameters", "commands=echo in-group",
                    "--targets", "Key=resource-groups:Name,Values=web")
        assert set(by_node(shown)) == {web, plain}, shown
        assert shown["status_detail"] == "Success"
        for name in ("web", "plain"):
            assert _stdout(c, shown["command_id"], name) == "in-group\n"
    finally:
        untagged = c.outpost_json("node", "untag", plain, "Role")
    assert untagged["tags"] == {"Environment": "dev"}
    shown = run(c, "--document", "Outpost-RunShellScript", "--parameters", "commands=echo in-group",
                "--targets", "Key=resource-groups:Name,Values=web")
    assert set(by_node(shown)) == {web}, shown


def test_targets_matching_no_node_end_no_instances_in_tag(fleet: Cluster) -> None:
    c = fleet
    c.outpost_json("group", "create", "nobody", "--targets", "Key=tag:Role,Values=does-not-exist")
    for targets in ("Key=resource-groups:Name,Values=nobody", "Key=tag:Role,Values=does-not-exist"):
        cid = send(c, "--document", "Outpost-RunShellScript", "--parameters", "commands=echo never",
                   "--targets", targets)
        shown = wait_terminal(c, cid, timeout=30)
        assert (shown["status"], shown["status_detail"]) == ("Failed", "NoInstancesInTag"), shown
        assert (shown["targets"], shown["invocations"]) == (0, []), shown
        proc = c.outpost("command", "wait", cid, check=False)
        assert proc.returncode == 1


def test_playbook_runs_a_stored_document_on_a_group_one_node_at_a_time(fleet: Cluster, tmp_path: Path) -> None:
    c = fleet
    web, db = _id(c, "web"), _id(c, "db")
    c.outpost_json("group", "create", "web-or-db", "--targets", "Key=tag:Role,Values=web,db")
    spans = tmp_path / "spans"
    book = write_file(tmp_path, "site.yml", (
        "- name: serial\n"
        "  max_concurrency: 1\n"
        "  targets: {group: web-or-db}\n"
        "  tasks:\n"
        "    - name: work\n"
        "      document: Outpost-RunShellScript\n"
        "      parameters:\n"
        "        commands:\n"
        f"          - echo start $OUTPOST_NODE_ID $(date +%s%N) >> {spans}\n"
        "          - sleep 1\n"
        "          - echo hello from $OUTPOST_NODE_ID, with a comma\n"
        f"          - echo end $OUTPOST_NODE_ID $(date +%s%N) >> {spans}\n"))
    result = json.loads(c.outpost("playbook", "apply", str(book), "--output", "json", timeout=120).stdout)
    (play,) = result["plays"]
    assert play["status"] == "Success" and play["targets"] == 2 and play["completed"] == 2, play
    invs = {i["node_id"]: i for i in play["invocations"]}
    assert set(invs) == {web, db}
    for node_id, inv in invs.items():
        assert inv["status"] == "Success", inv
        assert [s["name"] for s in inv["steps"]] == ["work.runShellScript"]
        out = c.outpost_json("command", "output", play["command_id"], "--node", node_id)
        assert out[0]["stdout"] == f"hello from {node_id}, with a comma\n"
    shown = show(c, play["command_id"])
    assert shown["max_concurrency"] == "1"
    # one at a time: the two runs do not overlap
    rows = [line.split() for line in spans.read_text().splitlines()]
    times = {(kind, node): int(ns) for kind, node, ns in rows}
    first, second = sorted((web, db), key=lambda n: times[("start", n)])
    assert times[("end", first)] <= times[("start", second)], rows


def test_rate_controls_on_send_are_recorded(fleet: Cluster) -> None:
    c = fleet
    shown = run(c, "--document", "Outpost-RunShellScript", "--parameters", "commands=true", "--targets", ALL,
                "--max-concurrency", "34%", "--max-errors", "1")
    assert (shown["max_concurrency"], shown["max_errors"], shown["status_detail"]) == ("34%", "1", "Success")
    assert len(shown["invocations"]) == 3
