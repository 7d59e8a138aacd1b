"""The bench cannot rot: a scaled-down ``make bench`` (a swarm of 300 agents connecting, one
fan-out, the latency loop) runs as a user runs it and writes sane numbers. No timing is asserted;
the goals are judged by ``make bench`` at full scale only.

Also, without running anything heavy: figures pull in what their ratios need, and a peer that
cannot be installed is reported in its row, never dropped.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import peers
from bench.__main__ import parse_args
from bench.figures import catalogue
from bench.model import SMALL, Measure
from controller.dev.cluster import ROOT


@pytest.mark.timeout(240)
def test_small_bench_writes_every_asked_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--scale", "small", "--runs", "1",
                           "--only", "connect,fanout,latency", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["scale"] == "small" and doc["runs"] == 1 and doc["goals_judged"] is False
    for when in ("speed_at_start", "speed_at_end"):  # the machine's speed, to compare invocations by
        assert all(v > 0 for v in doc["machine"][when].values()) and len(doc["machine"][when]) == 2, doc["machine"]
    assert "machine speed: Ed25519 verify" in proc.stdout
    figures = doc["figures"]
    assert set(figures) == {"connect.seconds", "connect.failed_streams", "fanout.seconds", "latency.p50",
                            "latency.p99", "latency.send_watch_p50"}, figures.keys()
    for key, row in figures.items():
        assert row["error"] is None, (key, row["error"], proc.stderr[-3000:])
        assert len(row["runs"]) == 1, (key, row)
        value = row["value"]
        assert isinstance(value, int | float) and math.isfinite(value) and value >= 0, (key, value)
    assert figures["connect.seconds"]["value"] > 0 and figures["fanout.seconds"]["value"] > 0
    assert 0 < figures["latency.p50"]["value"] <= figures["latency.p99"]["value"]
    assert figures["latency.send_watch_p50"]["value"] > 0  # SendCommand, then WatchCommand
    assert "300 agents connect" in figures["connect.seconds"]["label"]
    assert "connect to a cold controller" in proc.stdout  # the table


def test_ratios_bring_the_figures_they_are_computed_from() -> None:
    assert parse_args(["--only", "fanout_pg"]).wanted == ["fanout", "fanout_pg"]
    assert parse_args(["--only", "salt,latency"]).wanted == ["fanout_subprocess", "latency", "salt"]
    assert parse_args([]).wanted[0] == "connect" and len(parse_args([]).wanted) == 11
    with pytest.raises(SystemExit):
        parse_args(["--only", "nonsense"])


def test_a_peer_that_cannot_be_installed_is_reported_not_skipped(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    def refuse(package: str, script: str) -> Path:
        raise peers.PeerUnavailable(f"pip install {package} exited 1: no network")

    monkeypatch.setattr(peers, "ensure_installed", refuse)
    board = catalogue(SMALL, ["ansible", "salt"])
    peers.peers_group(tmp_path, SMALL, 1, board, [0.01])
    assert set(board) == {"ansible.ratio", "salt.ratio_3"}
    for row in board.values():
        assert row.error == f"not installable: pip install {'ansible-core' if 'ansible' in row.key else 'salt'} " \
                            "exited 1: no network"
        assert row.value is None and row.met is None and row.to_json()["error"] == row.error


def test_a_measure_is_the_median_of_its_runs_judged_against_its_goal() -> None:
    m = Measure("x.seconds", "x", "s", "≤ 5 s", 5, runs=[9.0, 1.0, 4.0])
    assert m.value == 4.0 and m.met is True
    r = Measure("y.ratio", "y", "x", "≥ 50 × cheaper", 50, at_least=True, runs=[40.0, 60.0, 45.0])
    assert r.value == 45.0 and r.met is False
