"""End to end (issue 18, point 4): a real controller and agent. A command's secret parameter and its
output are nowhere in plaintext in what the controller keeps (outpost.db, -wal and -shm read raw) or
in any process's log, while operators read the output as ever; `outpost controller rotate-master-key`
re-wraps every data key under a new master key while the controller runs, drops the old key from
the keyring file, is on the audit trail, and everything still opens, after a restart too."""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.runtime.config import ControllerDir
from controller.store import Store
from controller.trust.sealing import MASTER_KEY_FILE, load_keyring
from tests.support.cluster import Cluster
from tests.support.docrun import all_logs_text, create_document, output, send, wait_terminal
from tests.support.keys import controller_sealer


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("sealed"))
    c.init()
    try:
        c.start_controller()
        c.enroll("n1", c.create_activation())
        c.start_agent("n1")
        c.wait_online(["n1"])
        yield c
    finally:
        c.close()


def _kept(c: Cluster) -> dict[str, bytes]:
    """The controller's database files and every log, read raw."""
    files = {p.name: p.read_bytes() for p in c.controller_dir.iterdir() if p.name.startswith("outpost.db")}
    files.update({p.name: p.read_bytes() for p in c.root.glob("*.log")})
    return files


def _key_ids(c: Cluster) -> dict[str, int]:
    url = ControllerDir(c.controller_dir).load_settings().database_url
    with Store.open(url, controller_sealer(c.controller_dir)) as store:
        return store.sealed_master_keys()


def test_secrets_and_output_are_sealed_and_a_rotation_rewraps_them(one: Cluster, tmp_path: Path) -> None:
    c = one
    secret, mark = f"s3cr3t-{uuid.uuid4().hex}", uuid.uuid4().hex
    create_document(c, tmp_path, "Sealed-Token", (
        'schemaVersion: "2.2"\nparameters:\n  token: {type: String, secret: true, interpolationType: ENV_VAR}\n'
        "mainSteps:\n  - action: aws:runShellScript\n    name: s\n    inputs:\n      runCommand:\n"
        '        - test "$OUTPOST_TOKEN" = "{{ token }}" && echo token-ok\n'
        f"        - for i in 1 2 3; do echo {mark[::-1]} | rev; done\n"))  # the output's mark is not in the document
    node = c.node_ids["n1"]
    cid = send(c, "--document", "Sealed-Token", "--parameters", f"token={secret}", "--targets",
               f"Key=InstanceIds,Values={node}")
    assert wait_terminal(c, cid)["status_detail"] == "Success"
    assert output(c, cid, node)[0]["stdout"] == "token-ok\n" + f"{mark}\n" * 3

    kept = _kept(c)
    assert {"outpost.db", "outpost.db-wal", "controller.log", "agent-n1.log"} <= kept.keys()
    for name, data in kept.items():
        for needle in (secret, mark):  # (mark reversed is in the document's definition, which is not secret)
            assert needle.encode() not in data, f"{needle} in plaintext in {name}"
    old = load_keyring(c.controller_dir / MASTER_KEY_FILE).current.key_id
    before = _key_ids(c)
    assert set(before) == {old} and before[old] >= 2  # the document and the output
    assert (c.controller_dir / MASTER_KEY_FILE).stat().st_mode & 0o777 == 0o600

    said = c.outpost("controller", "rotate-master-key").stdout
    m = re.fullmatch(r"master key (mk-[0-9a-f]{16}) is current; (\d+) data key\(s\) re-wrapped; "
                     r"retired and dropped: (\S+)\n", said)
    assert m is not None, said
    new, count = m.group(1), int(m.group(2))
    assert new != old and m.group(3) == old and count == before[old]
    ring = load_keyring(c.controller_dir / MASTER_KEY_FILE)
    assert (ring.current.key_id, ring.retired) == (new, ())
    assert _key_ids(c) == {new: count}
    assert output(c, cid, node, "--full")[0]["stdout"] == "token-ok\n" + f"{mark}\n" * 3
    again = send(c, "--document", "Sealed-Token", "--parameters", f"token={secret}", "--targets",
                 f"Key=InstanceIds,Values={node}")
    assert wait_terminal(c, again)["status_detail"] == "Success"
    assert set(_key_ids(c)) == {new}  # sealed under the new key from the rotation on

    records = [json.loads(line) for line in c.outpost("audit", "export", "--action", "controller:RotateMasterKey",
                                                      "--format", "jsonl").stdout.splitlines()]
    assert [(r["actor"], r["outcome"]) for r in records] == [("operator/admin", "Allowed"),
                                                             ("operator/admin", "Succeeded")], records

    c.stop_controller()
    c.start_controller()
    c.wait_online(["n1"])
    assert output(c, cid, node)[0]["stdout"] == "token-ok\n" + f"{mark}\n" * 3
    for name, data in _kept(c).items():
        assert secret.encode() not in data and mark.encode() not in data, name
    assert secret not in all_logs_text(c)
