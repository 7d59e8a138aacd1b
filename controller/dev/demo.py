"""``make demo``: a controller on the embedded SQLite store, 3 local agents enrolled with
different tags, ``playbooks/hello.yml`` applied, the result shown, everything stopped again."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from controller.dev.cluster import ROOT, Cluster

DEMO_DIR = ROOT / ".demo"


def _say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def main() -> int:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir()
    fleet = Cluster(DEMO_DIR)
    try:
        _say(f"outpost controller init --dir {fleet.controller_dir} --hostname 127.0.0.1")
        fleet.init()
        _say(f"outpost controller serve --listen {fleet.address}   (enrolment on port {fleet.port + 1})")
        fleet.start_controller()
        _say("outpost activation create --tags Environment=dev,Role=web --limit 2")
        web = fleet.create_activation("Environment=dev,Role=web", limit=2)
        print(f"activation {web.activation_id}, CA {web.ca_fingerprint}")
        _say("outpost activation create --tags Environment=dev,Role=db --limit 1")
        db = fleet.create_activation("Environment=dev,Role=db", limit=1)
        for name, act in (("web-1", web), ("web-2", web), ("db-1", db)):
            _say(f"outpost agent enroll ... --state-dir {fleet.state_dir(name)}")
            print(fleet.enroll(name, act).stdout.strip())
            fleet.start_agent(name, heartbeat=5.0)
        fleet.wait_online(["web-1", "web-2", "db-1"])
        _say("outpost node list")
        print(fleet.outpost("node", "list").stdout)
        _say("outpost playbook apply playbooks/hello.yml")
        applied = fleet.outpost("playbook", "apply", "playbooks/hello.yml", check=False)
        print(applied.stdout, applied.stderr, sep="")
        _say("outpost command list")
        print(fleet.outpost("command", "list").stdout)
        return applied.returncode
    except Exception:
        print(fleet.logs(), file=sys.stderr)
        raise
    finally:
        _say("stopping the agents and the controller")
        fleet.close()
        print(f"logs and state are in {Path(DEMO_DIR).relative_to(ROOT)}/")


if __name__ == "__main__":
    sys.exit(main())
