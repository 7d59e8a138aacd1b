"""End to end: a node's certificate renewed over its stream (issue 18, point 5). With 15-second node
certificates, the agent asks for its next one at two thirds of that, saves it with its new key, and
opens its next stream with it; a command that runs across the renewal ends once, with all of its
output; the renewal is on the audit trail; a copy of the old pair still works until it expires."""
from __future__ import annotations

import json

from cryptography import x509

from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import by_node, send_script, show, wait_terminal


def _serial(pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(pem).serial_number, "x")


def test_an_agent_renews_its_certificate_over_its_stream_and_loses_no_command(cluster: Cluster) -> None:
    c = cluster
    settings = c.controller_dir / "controller.yaml"
    settings.write_text(settings.read_text() + "node_certificate_seconds: 15\n")
    c.start_controller()
    act = c.create_activation("Environment=dev", limit=1)
    c.enroll("n1", act)
    state = c.state_dir("n1")
    first = _serial((state / "node.crt").read_bytes())
    identity = json.loads((state / "identity.json").read_text())
    assert identity["renew_at"] > 0
    c.start_agent("n1")
    c.wait_online(["n1"])
    node = c.node_ids["n1"]
    cid = send_script(c, node, "for i in $(seq 1 14); do echo line-$i; sleep 1; done")  # across the renewal

    wait_for(lambda: _serial((state / "node.crt").read_bytes()) != first, 30, "the agent to renew its certificate")
    second = _serial((state / "node.crt").read_bytes())
    assert not (state / "node.crt.new").exists() and not (state / "node.key.new").exists()
    shown = wait_terminal(c, cid, 60)
    inv = by_node(shown)[node]
    assert (inv["status"], inv["status_detail"]) == ("Success", "Success"), inv
    out = c.outpost_json("command", "output", cid, "--node", node, "--output", "json")
    assert isinstance(out, list)
    assert out[0]["stdout"] == "".join(f"line-{i}\n" for i in range(1, 15))  # every line, once
    log = (c.root / "controller.log").read_text()
    assert f"renewed the certificate of node {node}: {second}" in log
    records = [json.loads(line) for line in c.outpost("audit", "export", "--action", "node:RenewCertificate",
                                                      "--format", "jsonl").stdout.splitlines()]
    assert [(r["actor"], r["outcome"], r["detail"]) for r in records][:1] == [
        (f"node/{node}", "Succeeded", f"certificate {second} issued")]
    # it reconnected with the new certificate: the node is Online, and its stream presents `second`
    wait_for(lambda: any(r["node_id"] == node and r["ping_status"] == "Online" for r in c.nodes()), 20,
             "the node to be Online on its new certificate")
    assert show(c, cid)["status_detail"] == "Success"
