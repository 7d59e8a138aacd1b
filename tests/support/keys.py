"""The master keyring tests open their stores with: fixed, so that a store reopened in a test (or in
a process the test starts) opens what it sealed before."""
from __future__ import annotations

from pathlib import Path

from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import MASTER_KEY_FILE, Keyring, MasterKey, load_keyring


def fixed_sealer() -> RecordSealer:
    return RecordSealer(Keyring(MasterKey("mk-test", bytes(range(32)))))


def controller_sealer(controller_dir: Path) -> RecordSealer:
    """The sealer of a controller a test started (over its directory's master.key)."""
    return RecordSealer(load_keyring(controller_dir / MASTER_KEY_FILE))
