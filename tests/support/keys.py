"""The master keyring tests open their stores with: fixed, so that a store reopened in a test (or in
a process the test starts) opens what it sealed before."""
from __future__ import annotations

from pathlib import Path

from controller.trust.sealing import MASTER_KEY_FILE, Keyring, MasterKey, load_keyring


def fixed_keyring() -> Keyring:
    return Keyring(MasterKey("mk-test", bytes(range(32))))


def controller_keyring(controller_dir: Path) -> Keyring:
    """The keyring of a controller a test started (its directory's master.key)."""
    return load_keyring(controller_dir / MASTER_KEY_FILE)
