"""A command's own notification in the store (controller/store/notifications.py), on SQLite and
PostgreSQL: stored with the command, its URL sealed with the command's id (the database read raw holds
no token), read back by get_command, list_commands and active_commands (a restarted controller's), gone
with its command, re-wrapped by a master key rotation."""
from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import text

from controller.notification import NotificationConfig, NotificationEvent, NotificationType
from controller.store import Store
from controller.store.errors import NotFound
from controller.store.rewrap import SEALED_COLUMNS
from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import Keyring, MasterKey, SealError
from plugins.sdk.status import Detail
from tests.store.test_store import DOC, command, invocations
from tests.support.keys import fixed_sealer

TOKEN = "tok-9f8e7d6c5b4a-never-in-the-database"
URL = f"https://hooks.example.com:8443/outpost/{TOKEN}?sig={TOKEN}"
NOTIFY = NotificationConfig(URL, frozenset({NotificationEvent.SUCCESS, NotificationEvent.FAILED}),
                            NotificationType.INVOCATION)


def _send(store: Store, command_id: str, notification: NotificationConfig | None) -> None:
    cmd = replace(command(command_id), notification=notification)
    store.create_command(cmd, DOC, invocations(command_id, ("mi-1", "mi-2")))


def test_a_notification_is_stored_with_its_command_and_read_back(store: Store) -> None:
    _send(store, "cmd-n", NOTIFY)
    _send(store, "cmd-plain", None)
    got = store.get_command("cmd-n")
    assert got.notification == NOTIFY
    assert got.notification is not None and got.notification.url == URL
    assert store.get_command("cmd-plain").notification is None
    assert {c.command_id: c.notification for c in store.list_commands(10)} == {"cmd-n": NOTIFY, "cmd-plain": None}
    # a restarted controller reads the notifications of the commands still running
    assert {c.command_id: c.notification for c in store.active_commands()} == {"cmd-n": NOTIFY, "cmd-plain": None}
    store.update_command("cmd-n", Detail.SUCCESS, 2, 0)
    assert [c.command_id for c in store.active_commands()] == ["cmd-plain"]


def test_the_url_is_sealed_with_its_command(store: Store) -> None:
    _send(store, "cmd-n", NOTIFY)
    _send(store, "cmd-other", replace(NOTIFY, url="https://elsewhere.example/x"))
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT url, events, type FROM command_notifications ORDER BY command_id")).all()
    assert TOKEN.encode() not in b"".join(bytes(r[0]) for r in rows)
    assert [(r[1], r[2]) for r in rows] == [("Success,Failed", "Invocation"), ("Success,Failed", "Invocation")]
    with store.engine.begin() as conn:  # a URL copied to another command does not open there
        conn.execute(text("UPDATE command_notifications SET url = (SELECT url FROM command_notifications "
                          "WHERE command_id = 'cmd-n') WHERE command_id = 'cmd-other'"))
    with pytest.raises(SealError):
        store.get_command("cmd-other")
    assert store.get_command("cmd-n").notification == NOTIFY


def test_a_notification_goes_with_its_command(store: Store) -> None:
    _send(store, "cmd-n", NOTIFY)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM commands WHERE command_id = 'cmd-n'"))
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM command_notifications")).scalar_one() == 0
    with pytest.raises(NotFound):
        store.get_command("cmd-n")


def test_a_rotation_rewraps_notification_urls(store: Store) -> None:
    _send(store, "cmd-n", NOTIFY)
    [which] = [i for i, c in enumerate(SEALED_COLUMNS) if c.table.name == "command_notifications"]
    old = fixed_sealer().keyring.current
    new = MasterKey.generate()
    store.use_sealer(RecordSealer(Keyring(new, [old])))
    assert store.rewrap_batch(which, None)[0] == 1
    assert store.sealed_master_keys().get(new.key_id) == 1
    store.use_sealer(RecordSealer(Keyring(new)))  # the old key gone: it opens under the new one alone
    assert store.get_command("cmd-n").notification == NOTIFY
