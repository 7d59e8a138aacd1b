"""agent.state: the identity is written as JSON and read back; state enrolled before that (an
identity.yaml) still loads; a broken identity is a clear ConfigError."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.state import AgentIdentity, StateDir
from plugins.sdk.errors import ConfigError

IDENT = AgentIdentity(node_id="mi-0123456789abcdef0", controller="ctl.example:7443", ca_pem=b"CA", cert_pem=b"CRT",
                      key_pem=b"KEY", signing_public_key=bytes(range(32)), signing_key_id="ed25519:00112233")


def test_the_identity_is_saved_as_json_and_loads_back(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    assert not state.exists()
    state.save_identity(IDENT)
    assert state.exists() and state.load_identity() == IDENT
    doc = json.loads((tmp_path / "s" / "identity.json").read_text())
    assert doc["node_id"] == IDENT.node_id and doc["signing_public_key"] == IDENT.signing_public_key.hex()
    assert not (tmp_path / "s" / "identity.yaml").exists()


def test_state_enrolled_with_an_identity_yaml_still_loads(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    state.save_identity(IDENT)
    doc = json.loads(state.identity_path.read_text())
    state.identity_path.unlink()
    (tmp_path / "s" / "identity.yaml").write_text(yaml.safe_dump(doc, sort_keys=True))
    assert state.exists() and state.load_identity() == IDENT


BAD_KEY = '{"node_id": "x", "controller": "c", "signing_public_key": "zz", "signing_key_id": "k"}'


@pytest.mark.parametrize("text", ["[1, 2]", '{"node_id": "x"}', "{not json", BAD_KEY])
def test_a_broken_identity_is_a_config_error_naming_the_state(tmp_path: Path, text: str) -> None:
    state = StateDir(tmp_path / "s")
    state.save_identity(IDENT)
    state.identity_path.write_text(text)
    with pytest.raises(ConfigError, match="broken agent state"):
        state.load_identity()


def test_no_identity_says_to_enrol(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not enrolled"):
        StateDir(tmp_path / "s").load_identity()


def test_a_running_agent_loads_no_yaml_parser(tmp_path: Path) -> None:
    """What `outpost agent run` imports up to its first connection attempt (its idle memory counts)."""
    StateDir(tmp_path / "s").save_identity(IDENT)
    code = ("import sys, asyncio\n"
            "from agent.cli import _run\n"
            "from agent.connection import AgentOptions\n"
            "from agent.runner import RunnerOptions\n"
            "from pathlib import Path\n"
            "from agent.state import StateDir\n"
            "from plugins.sdk.host.registry import PluginRegistry\n"
            f"ident = StateDir(Path({str(tmp_path / 's')!r})).load_identity()\n"
            "PluginRegistry.discover()\n"
            "print('yaml' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_the_state_directory_is_0700_even_when_it_existed_wider(tmp_path: Path) -> None:
    path = tmp_path / "s"
    (path / "work").mkdir(parents=True, mode=0o755)
    path.chmod(0o755)
    StateDir(path).save_identity(IDENT)
    assert [p.stat().st_mode & 0o777 for p in (path, path / "work")] == [0o700, 0o700]
    assert {p.name: p.stat().st_mode & 0o777 for p in path.iterdir() if p.is_file()} == {
        "node.key": 0o600, "node.crt": 0o600, "ca.pem": 0o600, "identity.json": 0o600}
