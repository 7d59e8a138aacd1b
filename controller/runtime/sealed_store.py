"""The store a controller serves, opened with its master keyring (controller/trust/sealing.py).

The keyring is ``master.key`` in the controller's directory unless the operator keeps it elsewhere
(``--master-key`` or ``OUTPOST_MASTER_KEY_FILE``). A directory from before sealing has none: one is
made at the first start, and migration 0007 seals what the database kept plain. A keyring that has
gone missing while the database holds values sealed under it is never replaced by a new one: the
controller refuses to start, naming the file to restore."""
from __future__ import annotations

import logging
from pathlib import Path

from controller.store import Store
from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import Keyring, MasterKey, load_keyring, save_keyring
from plugins.sdk.errors import ConfigError

log = logging.getLogger(__name__)


def open_sealed_store(url: str, keyring_file: Path) -> tuple[Store, Keyring]:
    """The store, and the keyring it seals with."""
    if keyring_file.exists():
        keyring = load_keyring(keyring_file)
        return Store.open(url, RecordSealer(keyring)), keyring
    keyring = Keyring(MasterKey.generate())
    store = Store.open(url, RecordSealer(keyring))
    try:
        if store.holds_sealed_values():
            raise ConfigError(f"{keyring_file}: no master key, and the database holds documents and output "
                              "sealed under one: restore that file (or give its path with --master-key or "
                              "OUTPOST_MASTER_KEY_FILE)")
        save_keyring(keyring_file, keyring)
    except BaseException:
        store.close()
        raise
    log.warning("no master key at %s: made one (keep it safe, apart from the database's backups: "
                "without it the sealed documents and output do not open)", keyring_file)
    return store, keyring
