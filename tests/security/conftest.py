"""One fleet for every attack of tests/security (tests/security/rig.py): a real controller refusing
documents that paste a String parameter into a script (``require_safe_parameters: true``), and two real
agents, ``prod`` and ``dev``. Attacks do not disturb one another: each makes its own operators,
policies, documents, activations and spare nodes under names of its own, and what a test changes in
the database it puts back."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.rig import Rig
from tests.support.cluster import Cluster, wait_for


@pytest.fixture(scope="package")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    c = Cluster(tmp_path_factory.mktemp("security"))
    c.init()
    settings = c.controller_dir / "controller.yaml"
    settings.write_text(settings.read_text().replace("require_safe_parameters: false",
                                                     "require_safe_parameters: true"))
    c.env["GRPC_VERBOSITY"] = "INFO"  # the controller logs a refused TLS handshake at INFO (gRPC's core)
    try:
        c.start_controller()
        del c.env["GRPC_VERBOSITY"]
        r = Rig(c)
        for name in ("prod", "dev"):
            run = r.enrol(name, r.activation(f"Environment={name}"))
            assert run.rc == 0, run
            c.start_agent(name)
        wait_for(lambda: {r.node("prod"), r.node("dev")} <= {n["node_id"] for n in r.json("node", "list")
                                                             if n["ping_status"] == "Online"},
                 30, "prod and dev to be Online")
        yield r
    finally:
        c.close()


@pytest.fixture(autouse=True)
def _logs_when_failed(request: pytest.FixtureRequest) -> Iterator[None]:
    """The fleet's logs, printed under an attack that failed (only one that uses the fleet)."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed and "rig" in request.fixturenames:
        print(request.getfixturevalue("rig").c.logs())
