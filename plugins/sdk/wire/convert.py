"""The one place where the SDK's types meet protobuf: conversions both sides share."""
from __future__ import annotations

from google.protobuf.message import DecodeError

from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.facts import Facts, Platform, PluginInfo
from plugins.sdk.status import Detail, Status
from plugins.sdk.wire.envelope import SignedCommand
from plugins.sdk.wire.key_rotation import KeyRotation
from plugins.sdk.wire.messages import (
    Accepted,
    AgentMessage,
    Cancel,
    CancelAck,
    CertificateRenewed,
    ContentChunk,
    ControllerMessage,
    FetchContent,
    Heartbeat,
    Hello,
    Ping,
    RenewCertificate,
    ResultAck,
    SigningKeyRotated,
)
from plugins.sdk.wire.results import InvocationReport, OutputChunk, Refusal, StepReport

_STATUS_TO_PB = {status: getattr(pb, f"STATUS_{status.name}") for status in Status}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}
_DETAIL_TO_PB = {detail: getattr(pb, f"STATUS_DETAIL_{detail.name}") for detail in Detail}
_DETAIL_FROM_PB = {v: k for k, v in _DETAIL_TO_PB.items()}

_PLATFORM_TO_PB = {
    Platform.LINUX: pb.PLATFORM_LINUX,
    Platform.WINDOWS: pb.PLATFORM_WINDOWS,
    Platform.MACOS: pb.PLATFORM_MACOS,
}
_PLATFORM_FROM_PB = {v: k for k, v in _PLATFORM_TO_PB.items()}

_STREAM_TO_PB = {OutputStreamKind.STDOUT: pb.OUTPUT_STREAM_STDOUT, OutputStreamKind.STDERR: pb.OUTPUT_STREAM_STDERR}
_STREAM_FROM_PB = {v: k for k, v in _STREAM_TO_PB.items()}


class WireError(ValueError):
    """A protobuf message carries a value this version does not know."""


def status_to_pb(status: Status) -> int:
    return _STATUS_TO_PB[status]


def status_from_pb(value: int) -> Status:
    try:
        return _STATUS_FROM_PB[value]
    except KeyError:
        raise WireError(f"unknown status {value}") from None


def detail_to_pb(detail: Detail) -> int:
    return _DETAIL_TO_PB[detail]


def detail_from_pb(value: int) -> Detail:
    try:
        return _DETAIL_FROM_PB[value]
    except KeyError:
        raise WireError(f"unknown status detail {value}") from None


def stream_to_pb(stream: OutputStreamKind) -> int:
    return _STREAM_TO_PB[stream]


def stream_from_pb(value: int) -> OutputStreamKind:
    try:
        return _STREAM_FROM_PB[value]
    except KeyError:
        raise WireError(f"unknown output stream {value}") from None


def facts_to_pb(facts: Facts) -> pb.Facts:
    return pb.Facts(
        hostname=facts.hostname, os_name=facts.os_name, os_version=facts.os_version,
        platform=_PLATFORM_TO_PB[facts.platform], architecture=facts.architecture,
        ip_addresses=list(facts.ip_addresses), agent_version=facts.agent_version,
        plugins=[pb.PluginInfo(name=p.name, version=p.version, aliases=list(p.aliases)) for p in facts.plugins],
    )


def facts_from_pb(msg: pb.Facts) -> Facts:
    try:
        platform = _PLATFORM_FROM_PB[msg.platform]
    except KeyError:
        raise WireError(f"unknown platform {msg.platform}") from None
    return Facts(
        hostname=msg.hostname, os_name=msg.os_name, os_version=msg.os_version, platform=platform,
        architecture=msg.architecture, ip_addresses=tuple(msg.ip_addresses), agent_version=msg.agent_version,
        plugins=tuple(PluginInfo(p.name, p.version, tuple(p.aliases)) for p in msg.plugins),
    )


def command_to_pb(cmd: SignedCommand) -> pb.Command:
    return pb.Command(envelope=cmd.envelope, signature=cmd.signature, document=cmd.document, proof=cmd.proof)


def controller_message_to_pb(msg: ControllerMessage) -> pb.ControllerMessage:
    """What the controller sends on an agent's stream (filled in place: a fan-out makes thousands of
    commands, and a Command built apart would be copied into its message)."""
    out = pb.ControllerMessage()
    if isinstance(msg, SignedCommand):
        cmd = out.command
        cmd.envelope, cmd.signature, cmd.document, cmd.proof = msg.envelope, msg.signature, msg.document, msg.proof
    elif isinstance(msg, ResultAck):
        out.result_ack.command_ids.extend(msg.command_ids)
    elif isinstance(msg, Cancel):
        out.cancel.command_id = msg.command_id
    elif isinstance(msg, Ping):
        out.ping.sent_at_ms = msg.sent_at_ms
        out.ping.answer = msg.answer
    elif isinstance(msg, CertificateRenewed):
        out.renewed.certificate_pem, out.renewed.error = msg.certificate_pem, msg.error
    elif isinstance(msg, ContentChunk):
        c = out.content
        c.request_id, c.data, c.size, c.last, c.error = msg.request_id, msg.data, msg.size, msg.last, msg.error
        c.offset = msg.offset
    elif isinstance(msg, SigningKeyRotated):
        out.signing_key.steps.extend(pb.KeyRotationStep(from_key_id=s.from_key_id, public_key=s.public_key,
                                                        issued_at_ms=s.issued_at_ms, signature=s.signature)
                                     for s in msg.steps)
    else:
        raise TypeError(f"not a controller message: {msg!r}")
    return out


def rotated_from_pb(msg: pb.SigningKeyRotated) -> SigningKeyRotated:
    return SigningKeyRotated(tuple(KeyRotation(s.from_key_id, s.public_key, s.issued_at_ms, s.signature)
                                   for s in msg.steps))


def renewed_from_pb(msg: pb.CertificateRenewed) -> CertificateRenewed:
    return CertificateRenewed(msg.certificate_pem, msg.error)


def cancel_ack_from_pb(msg: pb.CancelAck) -> CancelAck:
    return CancelAck(msg.command_id, msg.running)


def command_from_pb(msg: pb.Command) -> SignedCommand:
    return SignedCommand(envelope=msg.envelope, signature=msg.signature, document=msg.document, proof=msg.proof)


def command_to_bytes(cmd: SignedCommand) -> bytes:
    """A signed command as the agent keeps it (its journal's reboot record)."""
    return command_to_pb(cmd).SerializeToString()


def command_from_bytes(data: bytes) -> SignedCommand:
    try:
        return command_from_pb(pb.Command.FromString(data))
    except DecodeError as exc:
        raise WireError(f"a signed command that does not decode: {exc}") from None


def chunk_to_pb(chunk: OutputChunk) -> pb.OutputChunk:
    return pb.OutputChunk(command_id=chunk.command_id, step_name=chunk.step_name,
                          stream=stream_to_pb(chunk.stream), seq=chunk.seq, data=chunk.data)


def chunk_from_pb(msg: pb.OutputChunk) -> OutputChunk:
    return OutputChunk(msg.command_id, msg.step_name, stream_from_pb(msg.stream), msg.seq, msg.data)


def step_to_pb(step: StepReport) -> pb.StepResult:
    return pb.StepResult(command_id=step.command_id, step_name=step.step_name, step_index=step.step_index,
                         detail=detail_to_pb(step.detail), exit_code=step.exit_code,
                         started_at_ms=step.started_at_ms, ended_at_ms=step.ended_at_ms, error=step.error,
                         action=step.action, changed=step.changed, compliance=step.compliance)


def step_from_pb(msg: pb.StepResult) -> StepReport:
    return StepReport(msg.command_id, msg.step_index, msg.step_name, msg.action, detail_from_pb(msg.detail),
                      msg.exit_code, msg.started_at_ms, msg.ended_at_ms, msg.error, msg.changed, msg.compliance)


def invocation_to_pb(inv: InvocationReport) -> pb.InvocationResult:
    return pb.InvocationResult(command_id=inv.command_id, detail=detail_to_pb(inv.detail),
                               exit_code=inv.exit_code, started_at_ms=inv.started_at_ms,
                               ended_at_ms=inv.ended_at_ms, error=inv.error,
                               steps=[step_to_pb(s) for s in inv.steps])


def invocation_from_pb(msg: pb.InvocationResult) -> InvocationReport:
    return InvocationReport(msg.command_id, detail_from_pb(msg.detail), msg.exit_code, msg.started_at_ms,
                            msg.ended_at_ms, tuple(step_from_pb(s) for s in msg.steps), msg.error)


def accepted_to_pb(command_id: str) -> pb.Ack:
    return pb.Ack(command_id=command_id, accepted=True)


def refusal_to_pb(refusal: Refusal) -> pb.Ack:
    return pb.Ack(command_id=refusal.command_id, accepted=False, refusal_code=refusal.code,
                  refusal_detail=refusal.detail)


def refusal_from_pb(msg: pb.Ack) -> Refusal:
    return Refusal(msg.command_id, msg.refusal_code, msg.refusal_detail)


def agent_message_to_pb(msg: AgentMessage) -> pb.AgentMessage:
    """What an agent sends on its stream, as the stream carries it."""
    if isinstance(msg, OutputChunk):
        return pb.AgentMessage(output=chunk_to_pb(msg))
    if isinstance(msg, StepReport):
        return pb.AgentMessage(step_result=step_to_pb(msg))
    if isinstance(msg, InvocationReport):
        return pb.AgentMessage(invocation_result=invocation_to_pb(msg))
    if isinstance(msg, Accepted):
        return pb.AgentMessage(ack=accepted_to_pb(msg.command_id))
    if isinstance(msg, Heartbeat):
        return pb.AgentMessage(heartbeat=pb.Heartbeat(sent_at_ms=msg.sent_at_ms,
                                                      running_command_ids=msg.running_command_ids))
    if isinstance(msg, Refusal):
        return pb.AgentMessage(ack=refusal_to_pb(msg))
    if isinstance(msg, CancelAck):
        return pb.AgentMessage(cancel_ack=pb.CancelAck(command_id=msg.command_id, running=msg.running))
    if isinstance(msg, Hello):
        return pb.AgentMessage(hello=pb.Hello(facts=facts_to_pb(msg.facts), signing_key_id=msg.signing_key_id))
    if isinstance(msg, RenewCertificate):
        return pb.AgentMessage(renew=pb.RenewCertificate(csr_pem=msg.csr_pem))
    if isinstance(msg, FetchContent):
        return pb.AgentMessage(fetch=pb.FetchContent(request_id=msg.request_id, kind=msg.kind, name=msg.name,
                                                     offset=msg.offset))
    raise TypeError(f"not an agent message: {msg!r}")


def agent_message_from_pb(msg: pb.AgentMessage) -> AgentMessage:
    """An agent's message as its stream carried it (or its journal kept it, agent/journal.py)."""
    kind = msg.WhichOneof("body")
    if kind == "output":
        return chunk_from_pb(msg.output)
    if kind == "step_result":
        return step_from_pb(msg.step_result)
    if kind == "invocation_result":
        return invocation_from_pb(msg.invocation_result)
    if kind == "ack":
        return Accepted(msg.ack.command_id) if msg.ack.accepted else refusal_from_pb(msg.ack)
    if kind == "heartbeat":
        return Heartbeat(msg.heartbeat.sent_at_ms, tuple(msg.heartbeat.running_command_ids))
    if kind == "cancel_ack":
        return cancel_ack_from_pb(msg.cancel_ack)
    if kind == "hello":
        return Hello(facts_from_pb(msg.hello.facts), msg.hello.signing_key_id)
    if kind == "renew":
        return RenewCertificate(msg.renew.csr_pem)
    if kind == "fetch":
        return FetchContent(msg.fetch.request_id, msg.fetch.kind, msg.fetch.name, msg.fetch.offset)
    raise WireError("an agent message with no body")


def content_from_pb(msg: pb.ContentChunk) -> ContentChunk:
    return ContentChunk(msg.request_id, msg.data, msg.size, msg.last, msg.error, msg.offset)


def agent_message_to_bytes(msg: AgentMessage) -> bytes:
    """An agent's message as its journal keeps it (agent/journal.py): as the stream would carry it."""
    return agent_message_to_pb(msg).SerializeToString()


def agent_message_from_bytes(data: bytes) -> AgentMessage:
    try:
        return agent_message_from_pb(pb.AgentMessage.FromString(data))
    except DecodeError as exc:
        raise WireError(f"not an agent message: {exc}") from None
