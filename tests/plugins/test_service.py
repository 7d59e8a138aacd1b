"""The service plugin against a stand-in ``systemctl`` (systemd cannot run on this machine: every
test that runs the plugin says so in its name). The stand-in records each call's argv and answers
``is-active`` / ``is-enabled`` from a state directory, which its actions change as systemd would."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from plugins.service.plugin import ServiceInputs, ServicePlugin
from tests.plugins.support import Sink, make_ctx, run_step

REGISTRY = PluginRegistry([ServicePlugin()])

STAND_IN = r"""#!/bin/sh
# A stand-in for systemctl: records its argv, answers from $STANDIN_STATE/active and /enabled.
state="$STANDIN_STATE"
echo "$*" >> "$state/calls"
verb="$1"; unit="$2"
if [ -f "$state/fail" ] && [ "$(cat "$state/fail")" = "$verb" ]; then echo "Job for $unit failed." >&2; exit 1; fi
case "$verb" in
  is-active) a=$(cat "$state/active"); echo "$a"; [ "$a" = active ] && exit 0; exit 3;;
  is-enabled)
    e=$(cat "$state/enabled")
    case "$e" in
      missing) echo "Failed to get unit file state for $unit.service: No such file or directory" >&2; exit 1;;
      not-found) echo not-found; exit 4;;
      enabled|enabled-runtime|alias|static|indirect|generated|transient) echo "$e"; exit 0;;
      *) echo "$e"; exit 1;;
    esac;;
  start|restart) echo active > "$state/active";;
  stop) echo inactive > "$state/active";;
  enable) echo enabled > "$state/enabled";;
  disable) echo disabled > "$state/enabled";;
  reload|daemon-reload) ;;
  *) echo "stand-in: unknown verb $verb" >&2; exit 1;;
esac
"""
QUERY = ["is-active nginx", "is-enabled nginx"]


class StandIn:
    def __init__(self, root: Path, active: str, enabled: str) -> None:
        self.bin, self.state = root / "bin", root / "state"
        self.bin.mkdir()
        self.state.mkdir()
        (self.bin / "systemctl").write_text(STAND_IN)
        (self.bin / "systemctl").chmod(0o755)
        (self.state / "active").write_text(active + "\n")
        (self.state / "enabled").write_text(enabled + "\n")
        # first on PATH: this machine has a real /usr/bin/systemctl, which must not be reached
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "STANDIN_STATE": str(self.state)}

    def calls(self) -> list[str]:
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def unit(self) -> tuple[str, str]:
        return (self.state / "active").read_text().strip(), (self.state / "enabled").read_text().strip()

    def fail(self, verb: str) -> None:
        (self.state / "fail").write_text(verb)


# (active, enabled) before, inputs (name nginx), systemctl calls made, changed, output, (active, enabled) after
CASES: list[tuple[str, tuple[str, str], dict[str, Any], list[str], bool, str, tuple[str, str]]] = [
    ("start-inactive", ("inactive", "disabled"), {"state": "started"}, [*QUERY, "start nginx", *QUERY], True,
     "changed: started nginx\nnginx: active, disabled", ("active", "disabled")),
    ("start-failed", ("failed", "enabled"), {"state": "started"}, [*QUERY, "start nginx", *QUERY], True,
     "changed: started nginx\nnginx: active, enabled", ("active", "enabled")),
    ("started-already", ("active", "enabled"), {"state": "started"}, QUERY, False,
     "ok: nginx needs no change\nnginx: active, enabled", ("active", "enabled")),
    ("started-while-activating", ("activating", "enabled"), {"state": "started"}, QUERY, False,
     "ok: nginx needs no change\nnginx: activating, enabled", ("activating", "enabled")),
    ("stop-active", ("active", "enabled"), {"state": "stopped"}, [*QUERY, "stop nginx", *QUERY], True,
     "changed: stopped nginx\nnginx: inactive, enabled", ("inactive", "enabled")),
    ("stop-deactivating", ("deactivating", "enabled"), {"state": "stopped"}, [*QUERY, "stop nginx", *QUERY], True,
     "changed: stopped nginx\nnginx: inactive, enabled", ("inactive", "enabled")),
    ("stopped-already", ("inactive", "enabled"), {"state": "stopped"}, QUERY, False,
     "ok: nginx needs no change\nnginx: inactive, enabled", ("inactive", "enabled")),
    ("restart-always-changes", ("active", "enabled"), {"state": "restarted"}, [*QUERY, "restart nginx", *QUERY],
     True, "changed: restarted nginx\nnginx: active, enabled", ("active", "enabled")),
    ("restart-inactive-starts", ("inactive", "enabled"), {"state": "restarted"}, [*QUERY, "start nginx", *QUERY],
     True, "changed: started nginx\nnginx: active, enabled", ("active", "enabled")),
    ("reload-active", ("active", "enabled"), {"state": "reloaded"}, [*QUERY, "reload nginx", *QUERY], True,
     "changed: reloaded nginx\nnginx: active, enabled", ("active", "enabled")),
    ("reload-inactive-starts", ("failed", "enabled"), {"state": "reloaded"}, [*QUERY, "start nginx", *QUERY], True,
     "changed: started nginx\nnginx: active, enabled", ("active", "enabled")),
    ("enable", ("active", "disabled"), {"enabled": True}, [*QUERY, "enable nginx", *QUERY], True,
     "changed: enabled nginx\nnginx: active, enabled", ("active", "enabled")),
    ("disable", ("active", "enabled"), {"enabled": False}, [*QUERY, "disable nginx", *QUERY], True,
     "changed: disabled nginx\nnginx: active, disabled", ("active", "disabled")),
    ("enabled-static-is-enabled", ("inactive", "static"), {"enabled": True}, QUERY, False,
     "ok: nginx needs no change\nnginx: inactive, static", ("inactive", "static")),
    ("disabled-already", ("inactive", "disabled"), {"enabled": False}, QUERY, False,
     "ok: nginx needs no change\nnginx: inactive, disabled", ("inactive", "disabled")),
    ("enable-then-start", ("inactive", "disabled"), {"enabled": True, "state": "started"},
     [*QUERY, "enable nginx", "start nginx", *QUERY], True,
     "changed: enabled nginx\nchanged: started nginx\nnginx: active, enabled", ("active", "enabled")),
    ("daemon-reload-is-no-change", ("inactive", "disabled"), {"daemon_reload": True}, ["daemon-reload", *QUERY],
     False, "ran: systemctl daemon-reload\nok: nginx needs no change\nnginx: inactive, disabled",
     ("inactive", "disabled")),
    ("nothing-asked", ("active", "enabled"), {}, QUERY, False, "ok: nginx needs no change\nnginx: active, enabled",
     ("active", "enabled")),
]


# what check mode says for what the run says
PRESENT = {f"changed: {done} nginx": f"would change: {do} nginx" for done, do in [
    ("started", "start"), ("stopped", "stop"), ("restarted", "restart"), ("reloaded", "reload"),
    ("enabled", "enable"), ("disabled", "disable")]}
PRESENT["ran: systemctl daemon-reload"] = "would run: systemctl daemon-reload"


def stand_in_for(tmp_path: Path, unit: tuple[str, str]) -> StandIn:
    return StandIn(tmp_path, *unit)


@pytest.mark.parametrize("action", ["service", "systemd"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_case_with_a_systemctl_stand_in(case: tuple[Any, ...], action: str, tmp_path: Path) -> None:
    _, before, inputs, calls, changed, stdout, after = case
    stand_in = stand_in_for(tmp_path, before)
    outcome, sink = run_step(REGISTRY, action, {"name": "nginx", **inputs}, tmp_path, env=stand_in.env)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, changed)
    assert stand_in.calls() == calls
    assert sink.stdout == stdout + "\n"
    assert stand_in.unit() == after


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_check_mode_only_asks_a_systemctl_stand_in(case: tuple[Any, ...], tmp_path: Path) -> None:
    _, before, inputs, calls, changed, stdout, _after = case
    stand_in = stand_in_for(tmp_path, before)
    outcome, sink = run_step(REGISTRY, "service", {"name": "nginx", **inputs}, tmp_path, env=stand_in.env,
                             check_mode=True)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, changed)
    assert stand_in.calls() == QUERY  # nothing but the questions, daemon-reload included
    assert stand_in.unit() == before
    said = [PRESENT.get(line, line) for line in stdout.splitlines()[:-1]]  # the last: the state as it is now
    assert sink.stdout.splitlines() == [*said, f"nginx: {before[0]}, {before[1]}"]


def test_restart_with_a_systemctl_stand_in_in_check_mode_says_what_it_would_do(tmp_path: Path) -> None:
    stand_in = stand_in_for(tmp_path, ("active", "disabled"))
    outcome, sink = run_step(REGISTRY, "service", {"name": "nginx", "state": "restarted", "enabled": True},
                             tmp_path, env=stand_in.env, check_mode=True)
    assert outcome.changed
    assert sink.stdout == "would change: enable nginx\nwould change: restart nginx\nnginx: active, disabled\n"


def test_a_failing_action_fails_the_step_with_a_systemctl_stand_in(tmp_path: Path) -> None:
    stand_in = stand_in_for(tmp_path, ("inactive", "enabled"))
    stand_in.fail("start")
    with pytest.raises(PluginError, match="^service: systemctl start nginx exited with code 1$"):
        run_step(REGISTRY, "service", {"name": "nginx", "state": "started"}, tmp_path, env=stand_in.env)
    assert stand_in.calls() == [*QUERY, "start nginx"]


def test_the_failing_action_output_reaches_the_step_with_a_systemctl_stand_in(tmp_path: Path) -> None:
    stand_in = stand_in_for(tmp_path, ("inactive", "enabled"))
    stand_in.fail("start")
    sink = Sink()
    with pytest.raises(PluginError):
        asyncio.run(ServicePlugin().run(make_ctx(sink, tmp_path, env=stand_in.env),
                                        ServiceInputs(name="nginx", state="started")))
    assert sink.stderr == "Job for nginx failed.\n"


@pytest.mark.parametrize(("unit", "inputs", "message"), [
    (("inactive", "missing"), {"state": "stopped"}, "service: no unit nginx on this node (systemctl is-enabled exit "
                                                    "code 1)"),
    (("inactive", "not-found"), {"state": "started"}, "service: no unit nginx on this node (systemctl is-enabled "
                                                      "exit code 4)"),
    (("inactive", "masked"), {"enabled": True}, "service: enabled: nginx is masked; unmask it first"),
    (("inactive", "static"), {"enabled": False},
     "service: enabled: nginx is static (it is not enabled itself, so it cannot be disabled; mask it to keep it "
     "from starting)"),
    (("", "enabled"), {"state": "started"}, "service: systemctl is-active nginx answered nothing (exit code 3)"),
])
def test_refusals_with_a_systemctl_stand_in(unit: tuple[str, str], inputs: dict[str, Any], message: str,
                                            tmp_path: Path) -> None:
    stand_in = stand_in_for(tmp_path, unit)
    with pytest.raises(PluginError) as info:
        run_step(REGISTRY, "service", {"name": "nginx", **inputs}, tmp_path, env=stand_in.env)
    assert str(info.value) == message
    assert stand_in.unit() == unit


@pytest.mark.parametrize("name", ["--now", "-x", "a b", "x;reboot", ""])
def test_a_name_that_is_no_unit_is_refused_before_a_systemctl_stand_in_is_asked(name: str, tmp_path: Path) -> None:
    stand_in = stand_in_for(tmp_path, ("active", "enabled"))
    with pytest.raises(PluginError, match="^service: name .* is not a unit name$"):
        run_step(REGISTRY, "service", {"name": name, "state": "stopped"}, tmp_path, env=stand_in.env)
    assert stand_in.calls() == []


@pytest.mark.parametrize("name", ["getty@tty1.service", "dev-disk-by\\x2duuid.device", "nginx.service", "a:b_c"])
def test_unit_names_systemd_allows_reach_a_systemctl_stand_in(name: str, tmp_path: Path) -> None:
    stand_in = stand_in_for(tmp_path, ("active", "enabled"))
    outcome, _ = run_step(REGISTRY, "service", {"name": name}, tmp_path, env=stand_in.env)
    assert stand_in.calls() == [f"is-active {name}", f"is-enabled {name}"]


def test_no_systemctl_on_the_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PluginError) as info:
        run_step(REGISTRY, "service", {"name": "nginx", "state": "started"}, tmp_path,
                 env={"PATH": str(tmp_path / "empty")})
    assert str(info.value) == "service: systemctl not found on PATH; this node does not run systemd"


@pytest.mark.parametrize(("raw", "where", "message"), [
    ({}, "case.name", "missing required parameter"),
    ({"name": "x", "state": "running"}, "case.state", "expected one of started, stopped, restarted, reloaded, "
                                                      "got 'running'"),
    ({"name": "x", "enabled": "yes"}, "case.enabled", "expected a boolean, got a string"),
    ({"name": "x", "pattern": "x"}, "case.pattern", "unsupported parameter (supported: daemon_reload, enabled, name, "
                                                    "state)"),
])
@pytest.mark.parametrize("action", ["service", "systemd"])
def test_bad_inputs(action: str, raw: Any, where: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        REGISTRY.bind(action, raw, "case")
    assert (info.value.where, info.value.message) == (where, message)


def test_spec_and_alias() -> None:
    spec = ServicePlugin.spec
    assert (spec.name, spec.supports_check_mode, spec.needs_workdir) == ("service", True, False)
    assert spec.platforms == frozenset({Platform.LINUX})
    assert REGISTRY.actions() == ("service", "systemd")
    assert REGISTRY.bind("systemd", {"name": "x", "enabled": True}, "c").inputs == ServiceInputs(name="x", enabled=True)
