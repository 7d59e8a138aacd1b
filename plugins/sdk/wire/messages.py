"""An agent's stream carries, besides signed commands (envelope.py) and results (results.py), these:
what the controller sends to steer it (a cancel, a ping, the acknowledgement of stored results) and
the agent's answer to a cancel. Both sides hold these types; only their edges see protobuf
(plugins/sdk/wire/convert.py)."""
from __future__ import annotations

from dataclasses import dataclass

from plugins.sdk.facts import Facts
from plugins.sdk.wire.envelope import SignedCommand
from plugins.sdk.wire.key_rotation import KeyRotation
from plugins.sdk.wire.results import InvocationReport, OutputChunk, Refusal, StepReport


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop what runs of this command (SIGTERM, then SIGKILL after the plugin's grace)."""
    command_id: str


@dataclass(frozen=True, slots=True)
class Ping:
    sent_at_ms: int
    answer: bool = False  # the agent answers with a Heartbeat (is this stream alive?)


@dataclass(frozen=True, slots=True)
class ResultAck:
    """These commands' results are stored: the agent may forget them."""
    command_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CancelAck:
    """The agent's answer to a Cancel: whether it found the command running."""
    command_id: str
    running: bool


@dataclass(frozen=True, slots=True)
class Hello:
    """Every stream's first message: what the agent tells of its node, and the id of the
    document-signing key it pins (the controller sends the rotations since, before anything else)."""
    facts: Facts
    signing_key_id: str = ""


@dataclass(frozen=True, slots=True)
class Accepted:
    """The command is in the agent's ledger and runs (a refusal is a Refusal)."""
    command_id: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    sent_at_ms: int
    running_command_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RenewCertificate:
    """The agent asks for its next certificate, for the key of this CSR (PEM)."""
    csr_pem: bytes


@dataclass(frozen=True, slots=True)
class CertificateRenewed:
    """The controller's answer: the new certificate (PEM), or why there is none."""
    certificate_pem: bytes
    error: str = ""


@dataclass(frozen=True, slots=True)
class SigningKeyRotated:
    """The controller's document-signing key has changed: the steps from the agent's pinned key to
    the current one (plugins/sdk/wire/key_rotation.py)."""
    steps: tuple[KeyRotation, ...]


@dataclass(frozen=True, slots=True)
class FetchContent:
    """A step fetches content over its agent's stream: the next chunk of ``kind``/``name`` from
    ``offset`` (kinds: CONTENT_KINDS)."""
    request_id: int
    kind: str
    name: str
    offset: int


CONTENT_KINDS = ("agent-release", "file")
CONTENT_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class ContentChunk:
    """The controller's answer to a FetchContent: a chunk, the whole's size, whether it is the last;
    or why there is none (``error``)."""
    request_id: int
    data: bytes
    size: int
    last: bool
    error: str = ""
    offset: int = 0


ControllerMessage = (SignedCommand | Cancel | Ping | ResultAck | CertificateRenewed | SigningKeyRotated
                     | ContentChunk)
AgentMessage = (Hello | Accepted | Refusal | OutputChunk | StepReport | InvocationReport | Heartbeat | CancelAck
                | RenewCertificate | FetchContent)
