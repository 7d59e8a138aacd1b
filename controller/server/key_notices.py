"""Agents told of the document-signing key's rotations (issue 18, point 5): the steps from the key an
agent pins (its Hello names it) to the controller's current one, queued on its stream before any
command signed with the new key: at its Hello, and to every connected agent as a rotation happens."""
from __future__ import annotations

import logging

from controller.fleet.sessions import AgentSession
from controller.trust.signing_keys import SigningKeys
from plugins.sdk.wire.messages import SigningKeyRotated

log = logging.getLogger(__name__)

MAX_KEY_ID = 64  # a Hello's key id past this is none of ours


def bring_up_to_date(session: AgentSession, keys: SigningKeys) -> bool:
    """Queue the rotations the session's agent has not pinned; True when some were queued. An agent
    that names no key (an older agent) is left as it is; one that names a key this controller never
    had is logged: what the current key signs will be refused there until it enrols again."""
    pinned = session.signing_key_id
    if not pinned or pinned == keys.key_id:
        return False
    chain = keys.chain_from(pinned) if len(pinned) <= MAX_KEY_ID else None
    if not chain:
        log.warning("node %s pins a document-signing key this controller does not have: its commands will be "
                    "refused until it enrols again", session.node_id)
        return False
    session.send(SigningKeyRotated(chain))
    session.signing_key_id = keys.key_id
    log.info("node %s sent %d signing key rotation(s), to %s", session.node_id, len(chain), keys.key_id)
    return True
