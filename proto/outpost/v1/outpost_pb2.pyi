from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Platform(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLATFORM_UNSPECIFIED: _ClassVar[Platform]
    PLATFORM_LINUX: _ClassVar[Platform]
    PLATFORM_WINDOWS: _ClassVar[Platform]
    PLATFORM_MACOS: _ClassVar[Platform]

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    STATUS_PENDING: _ClassVar[Status]
    STATUS_IN_PROGRESS: _ClassVar[Status]
    STATUS_SUCCESS: _ClassVar[Status]
    STATUS_FAILED: _ClassVar[Status]
    STATUS_TIMED_OUT: _ClassVar[Status]
    STATUS_CANCELLED: _ClassVar[Status]
    STATUS_DELAYED: _ClassVar[Status]
    STATUS_CANCELLING: _ClassVar[Status]

class StatusDetail(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_DETAIL_UNSPECIFIED: _ClassVar[StatusDetail]
    STATUS_DETAIL_PENDING: _ClassVar[StatusDetail]
    STATUS_DETAIL_IN_PROGRESS: _ClassVar[StatusDetail]
    STATUS_DETAIL_DELAYED: _ClassVar[StatusDetail]
    STATUS_DETAIL_SUCCESS: _ClassVar[StatusDetail]
    STATUS_DETAIL_CANCELLED: _ClassVar[StatusDetail]
    STATUS_DETAIL_CANCELLING: _ClassVar[StatusDetail]
    STATUS_DETAIL_FAILED: _ClassVar[StatusDetail]
    STATUS_DETAIL_DELIVERY_TIMED_OUT: _ClassVar[StatusDetail]
    STATUS_DETAIL_EXECUTION_TIMED_OUT: _ClassVar[StatusDetail]
    STATUS_DETAIL_UNDELIVERABLE: _ClassVar[StatusDetail]
    STATUS_DETAIL_TERMINATED: _ClassVar[StatusDetail]
    STATUS_DETAIL_INVALID_PLATFORM: _ClassVar[StatusDetail]
    STATUS_DETAIL_ACCESS_DENIED: _ClassVar[StatusDetail]
    STATUS_DETAIL_INCOMPLETE: _ClassVar[StatusDetail]
    STATUS_DETAIL_NO_INSTANCES_IN_TAG: _ClassVar[StatusDetail]
    STATUS_DETAIL_SKIPPED: _ClassVar[StatusDetail]
    STATUS_DETAIL_AGENT_LOST: _ClassVar[StatusDetail]

class OutputStream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_STREAM_UNSPECIFIED: _ClassVar[OutputStream]
    OUTPUT_STREAM_STDOUT: _ClassVar[OutputStream]
    OUTPUT_STREAM_STDERR: _ClassVar[OutputStream]
PLATFORM_UNSPECIFIED: Platform
PLATFORM_LINUX: Platform
PLATFORM_WINDOWS: Platform
PLATFORM_MACOS: Platform
STATUS_UNSPECIFIED: Status
STATUS_PENDING: Status
STATUS_IN_PROGRESS: Status
STATUS_SUCCESS: Status
STATUS_FAILED: Status
STATUS_TIMED_OUT: Status
STATUS_CANCELLED: Status
STATUS_DELAYED: Status
STATUS_CANCELLING: Status
STATUS_DETAIL_UNSPECIFIED: StatusDetail
STATUS_DETAIL_PENDING: StatusDetail
STATUS_DETAIL_IN_PROGRESS: StatusDetail
STATUS_DETAIL_DELAYED: StatusDetail
STATUS_DETAIL_SUCCESS: StatusDetail
STATUS_DETAIL_CANCELLED: StatusDetail
STATUS_DETAIL_CANCELLING: StatusDetail
STATUS_DETAIL_FAILED: StatusDetail
STATUS_DETAIL_DELIVERY_TIMED_OUT: StatusDetail
STATUS_DETAIL_EXECUTION_TIMED_OUT: StatusDetail
STATUS_DETAIL_UNDELIVERABLE: StatusDetail
STATUS_DETAIL_TERMINATED: StatusDetail
STATUS_DETAIL_INVALID_PLATFORM: StatusDetail
STATUS_DETAIL_ACCESS_DENIED: StatusDetail
STATUS_DETAIL_INCOMPLETE: StatusDetail
STATUS_DETAIL_NO_INSTANCES_IN_TAG: StatusDetail
STATUS_DETAIL_SKIPPED: StatusDetail
STATUS_DETAIL_AGENT_LOST: StatusDetail
OUTPUT_STREAM_UNSPECIFIED: OutputStream
OUTPUT_STREAM_STDOUT: OutputStream
OUTPUT_STREAM_STDERR: OutputStream

class PluginInfo(_message.Message):
    __slots__ = ("name", "version", "aliases")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class Facts(_message.Message):
    __slots__ = ("hostname", "os_name", "os_version", "platform", "architecture", "ip_addresses", "agent_version", "plugins")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_NAME_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    os_name: str
    os_version: str
    platform: Platform
    architecture: str
    ip_addresses: _containers.RepeatedScalarFieldContainer[str]
    agent_version: str
    plugins: _containers.RepeatedCompositeFieldContainer[PluginInfo]
    def __init__(self, hostname: _Optional[str] = ..., os_name: _Optional[str] = ..., os_version: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., architecture: _Optional[str] = ..., ip_addresses: _Optional[_Iterable[str]] = ..., agent_version: _Optional[str] = ..., plugins: _Optional[_Iterable[_Union[PluginInfo, _Mapping]]] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("activation_id", "activation_code", "csr_pem", "facts")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    activation_code: str
    csr_pem: bytes
    facts: Facts
    def __init__(self, activation_id: _Optional[str] = ..., activation_code: _Optional[str] = ..., csr_pem: _Optional[bytes] = ..., facts: _Optional[_Union[Facts, _Mapping]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("node_id", "certificate_pem", "ca_bundle_pem", "signing_public_key", "signing_key_id")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_BUNDLE_PEM_FIELD_NUMBER: _ClassVar[int]
    SIGNING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    certificate_pem: bytes
    ca_bundle_pem: bytes
    signing_public_key: bytes
    signing_key_id: str
    def __init__(self, node_id: _Optional[str] = ..., certificate_pem: _Optional[bytes] = ..., ca_bundle_pem: _Optional[bytes] = ..., signing_public_key: _Optional[bytes] = ..., signing_key_id: _Optional[str] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("command_id", "node_id", "document_sha256", "issued_at_ms", "expires_at_ms", "key_id")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    node_id: str
    document_sha256: bytes
    issued_at_ms: int
    expires_at_ms: int
    key_id: str
    def __init__(self, command_id: _Optional[str] = ..., node_id: _Optional[str] = ..., document_sha256: _Optional[bytes] = ..., issued_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., key_id: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("envelope", "signature", "document", "proof")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    signature: bytes
    document: bytes
    proof: bytes
    def __init__(self, envelope: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., document: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...

class Cancel(_message.Message):
    __slots__ = ("command_id",)
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    def __init__(self, command_id: _Optional[str] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("sent_at_ms", "answer")
    SENT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    sent_at_ms: int
    answer: bool
    def __init__(self, sent_at_ms: _Optional[int] = ..., answer: _Optional[bool] = ...) -> None: ...

class ResultAck(_message.Message):
    __slots__ = ("command_ids",)
    COMMAND_IDS_FIELD_NUMBER: _ClassVar[int]
    command_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, command_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ControllerMessage(_message.Message):
    __slots__ = ("command", "cancel", "ping", "result_ack", "renewed", "signing_key", "content")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    RESULT_ACK_FIELD_NUMBER: _ClassVar[int]
    RENEWED_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    command: Command
    cancel: Cancel
    ping: Ping
    result_ack: ResultAck
    renewed: CertificateRenewed
    signing_key: SigningKeyRotated
    content: ContentChunk
    def __init__(self, command: _Optional[_Union[Command, _Mapping]] = ..., cancel: _Optional[_Union[Cancel, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., result_ack: _Optional[_Union[ResultAck, _Mapping]] = ..., renewed: _Optional[_Union[CertificateRenewed, _Mapping]] = ..., signing_key: _Optional[_Union[SigningKeyRotated, _Mapping]] = ..., content: _Optional[_Union[ContentChunk, _Mapping]] = ...) -> None: ...

class FetchContent(_message.Message):
    __slots__ = ("request_id", "kind", "name", "offset")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    kind: str
    name: str
    offset: int
    def __init__(self, request_id: _Optional[int] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class ContentChunk(_message.Message):
    __slots__ = ("request_id", "data", "size", "last", "error", "offset")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    data: bytes
    size: int
    last: bool
    error: str
    offset: int
    def __init__(self, request_id: _Optional[int] = ..., data: _Optional[bytes] = ..., size: _Optional[int] = ..., last: _Optional[bool] = ..., error: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class KeyRotationStep(_message.Message):
    __slots__ = ("from_key_id", "public_key", "issued_at_ms", "signature")
    FROM_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    from_key_id: str
    public_key: bytes
    issued_at_ms: int
    signature: bytes
    def __init__(self, from_key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., issued_at_ms: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SigningKeyRotated(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[KeyRotationStep]
    def __init__(self, steps: _Optional[_Iterable[_Union[KeyRotationStep, _Mapping]]] = ...) -> None: ...

class RenewCertificate(_message.Message):
    __slots__ = ("csr_pem",)
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    csr_pem: bytes
    def __init__(self, csr_pem: _Optional[bytes] = ...) -> None: ...

class CertificateRenewed(_message.Message):
    __slots__ = ("certificate_pem", "error")
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    certificate_pem: bytes
    error: str
    def __init__(self, certificate_pem: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("facts", "signing_key_id")
    FACTS_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    facts: Facts
    signing_key_id: str
    def __init__(self, facts: _Optional[_Union[Facts, _Mapping]] = ..., signing_key_id: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("command_id", "accepted", "refusal_code", "refusal_detail")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_CODE_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_DETAIL_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    accepted: bool
    refusal_code: str
    refusal_detail: str
    def __init__(self, command_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., refusal_code: _Optional[str] = ..., refusal_detail: _Optional[str] = ...) -> None: ...

class OutputChunk(_message.Message):
    __slots__ = ("command_id", "step_name", "stream", "seq", "data")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    step_name: str
    stream: OutputStream
    seq: int
    data: bytes
    def __init__(self, command_id: _Optional[str] = ..., step_name: _Optional[str] = ..., stream: _Optional[_Union[OutputStream, str]] = ..., seq: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("command_id", "step_name", "step_index", "detail", "exit_code", "started_at_ms", "ended_at_ms", "error", "action", "changed", "compliance")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    step_name: str
    step_index: int
    detail: StatusDetail
    exit_code: int
    started_at_ms: int
    ended_at_ms: int
    error: str
    action: str
    changed: bool
    compliance: bytes
    def __init__(self, command_id: _Optional[str] = ..., step_name: _Optional[str] = ..., step_index: _Optional[int] = ..., detail: _Optional[_Union[StatusDetail, str]] = ..., exit_code: _Optional[int] = ..., started_at_ms: _Optional[int] = ..., ended_at_ms: _Optional[int] = ..., error: _Optional[str] = ..., action: _Optional[str] = ..., changed: _Optional[bool] = ..., compliance: _Optional[bytes] = ...) -> None: ...

class InvocationResult(_message.Message):
    __slots__ = ("command_id", "detail", "exit_code", "started_at_ms", "ended_at_ms", "error", "steps")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    detail: StatusDetail
    exit_code: int
    started_at_ms: int
    ended_at_ms: int
    error: str
    steps: _containers.RepeatedCompositeFieldContainer[StepResult]
    def __init__(self, command_id: _Optional[str] = ..., detail: _Optional[_Union[StatusDetail, str]] = ..., exit_code: _Optional[int] = ..., started_at_ms: _Optional[int] = ..., ended_at_ms: _Optional[int] = ..., error: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[StepResult, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_at_ms", "running_command_ids")
    SENT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_COMMAND_IDS_FIELD_NUMBER: _ClassVar[int]
    sent_at_ms: int
    running_command_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sent_at_ms: _Optional[int] = ..., running_command_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CancelAck(_message.Message):
    __slots__ = ("command_id", "running")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    running: bool
    def __init__(self, command_id: _Optional[str] = ..., running: _Optional[bool] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "ack", "output", "step_result", "invocation_result", "heartbeat", "cancel_ack", "renew", "fetch")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    STEP_RESULT_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_RESULT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ACK_FIELD_NUMBER: _ClassVar[int]
    RENEW_FIELD_NUMBER: _ClassVar[int]
    FETCH_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    ack: Ack
    output: OutputChunk
    step_result: StepResult
    invocation_result: InvocationResult
    heartbeat: Heartbeat
    cancel_ack: CancelAck
    renew: RenewCertificate
    fetch: FetchContent
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., output: _Optional[_Union[OutputChunk, _Mapping]] = ..., step_result: _Optional[_Union[StepResult, _Mapping]] = ..., invocation_result: _Optional[_Union[InvocationResult, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., cancel_ack: _Optional[_Union[CancelAck, _Mapping]] = ..., renew: _Optional[_Union[RenewCertificate, _Mapping]] = ..., fetch: _Optional[_Union[FetchContent, _Mapping]] = ...) -> None: ...

class CreateActivationRequest(_message.Message):
    __slots__ = ("tags", "registration_limit", "expires_seconds", "description")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    registration_limit: int
    expires_seconds: int
    description: str
    def __init__(self, tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., registration_limit: _Optional[int] = ..., expires_seconds: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class Activation(_message.Message):
    __slots__ = ("activation_id", "tags", "registration_limit", "registrations_count", "created_at_ms", "expires_at_ms", "description")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REGISTRATIONS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    registration_limit: int
    registrations_count: int
    created_at_ms: int
    expires_at_ms: int
    description: str
    def __init__(self, activation_id: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., registration_limit: _Optional[int] = ..., registrations_count: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class CreateActivationResponse(_message.Message):
    __slots__ = ("activation", "activation_code", "ca_fingerprint")
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_CODE_FIELD_NUMBER: _ClassVar[int]
    CA_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    activation: Activation
    activation_code: str
    ca_fingerprint: str
    def __init__(self, activation: _Optional[_Union[Activation, _Mapping]] = ..., activation_code: _Optional[str] = ..., ca_fingerprint: _Optional[str] = ...) -> None: ...

class ListActivationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListActivationsResponse(_message.Message):
    __slots__ = ("activations",)
    ACTIVATIONS_FIELD_NUMBER: _ClassVar[int]
    activations: _containers.RepeatedCompositeFieldContainer[Activation]
    def __init__(self, activations: _Optional[_Iterable[_Union[Activation, _Mapping]]] = ...) -> None: ...

class DeleteActivationRequest(_message.Message):
    __slots__ = ("activation_id",)
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    def __init__(self, activation_id: _Optional[str] = ...) -> None: ...

class DeleteActivationResponse(_message.Message):
    __slots__ = ("activation",)
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    activation: Activation
    def __init__(self, activation: _Optional[_Union[Activation, _Mapping]] = ...) -> None: ...

class DeregisterNodeRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class DeregisterNodeResponse(_message.Message):
    __slots__ = ("node_id", "serials", "ended_invocations")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SERIALS_FIELD_NUMBER: _ClassVar[int]
    ENDED_INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    serials: _containers.RepeatedScalarFieldContainer[str]
    ended_invocations: int
    def __init__(self, node_id: _Optional[str] = ..., serials: _Optional[_Iterable[str]] = ..., ended_invocations: _Optional[int] = ...) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateSigningKeyResponse(_message.Message):
    __slots__ = ("key_id", "previous", "agents_told")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    AGENTS_TOLD_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    previous: str
    agents_told: int
    def __init__(self, key_id: _Optional[str] = ..., previous: _Optional[str] = ..., agents_told: _Optional[int] = ...) -> None: ...

class AgentRelease(_message.Message):
    __slots__ = ("version", "filename", "sha256", "size", "published_at_ms", "published_by", "signing_key_id", "signature")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_BY_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    version: str
    filename: str
    sha256: str
    size: int
    published_at_ms: int
    published_by: str
    signing_key_id: str
    signature: bytes
    def __init__(self, version: _Optional[str] = ..., filename: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., published_at_ms: _Optional[int] = ..., published_by: _Optional[str] = ..., signing_key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class PublishAgentReleaseRequest(_message.Message):
    __slots__ = ("filename", "data")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    filename: str
    data: bytes
    def __init__(self, filename: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class PublishAgentReleaseResponse(_message.Message):
    __slots__ = ("release",)
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    release: AgentRelease
    def __init__(self, release: _Optional[_Union[AgentRelease, _Mapping]] = ...) -> None: ...

class ListAgentReleasesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentReleasesResponse(_message.Message):
    __slots__ = ("releases",)
    RELEASES_FIELD_NUMBER: _ClassVar[int]
    releases: _containers.RepeatedCompositeFieldContainer[AgentRelease]
    def __init__(self, releases: _Optional[_Iterable[_Union[AgentRelease, _Mapping]]] = ...) -> None: ...

class DeleteAgentReleaseRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class DeleteAgentReleaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContentFile(_message.Message):
    __slots__ = ("name", "sha256", "size", "stored_at_ms", "stored_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STORED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    sha256: str
    size: int
    stored_at_ms: int
    stored_by: str
    def __init__(self, name: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., stored_at_ms: _Optional[int] = ..., stored_by: _Optional[str] = ...) -> None: ...

class PutContentRequest(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class PutContentResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: ContentFile
    def __init__(self, file: _Optional[_Union[ContentFile, _Mapping]] = ...) -> None: ...

class ListContentRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListContentResponse(_message.Message):
    __slots__ = ("files",)
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[ContentFile]
    def __init__(self, files: _Optional[_Iterable[_Union[ContentFile, _Mapping]]] = ...) -> None: ...

class DeleteContentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteContentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("name", "type", "value", "version", "description", "last_modified_at_ms", "last_modified_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    value: str
    version: int
    description: str
    last_modified_at_ms: int
    last_modified_by: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., value: _Optional[str] = ..., version: _Optional[int] = ..., description: _Optional[str] = ..., last_modified_at_ms: _Optional[int] = ..., last_modified_by: _Optional[str] = ...) -> None: ...

class PutParameterRequest(_message.Message):
    __slots__ = ("name", "type", "value", "description", "overwrite")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    value: str
    description: str
    overwrite: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., value: _Optional[str] = ..., description: _Optional[str] = ..., overwrite: _Optional[bool] = ...) -> None: ...

class PutParameterResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class GetParameterRequest(_message.Message):
    __slots__ = ("name", "with_decryption")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WITH_DECRYPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    with_decryption: bool
    def __init__(self, name: _Optional[str] = ..., with_decryption: _Optional[bool] = ...) -> None: ...

class GetParameterResponse(_message.Message):
    __slots__ = ("parameter",)
    PARAMETER_FIELD_NUMBER: _ClassVar[int]
    parameter: Parameter
    def __init__(self, parameter: _Optional[_Union[Parameter, _Mapping]] = ...) -> None: ...

class ListParametersRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class ListParametersResponse(_message.Message):
    __slots__ = ("parameters",)
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    def __init__(self, parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ...) -> None: ...

class DeleteParameterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteParameterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Baseline(_message.Message):
    __slots__ = ("name", "content", "sha256", "created_at_ms", "updated_at_ms", "updated_by", "operating_system", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    OPERATING_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    content: str
    sha256: str
    created_at_ms: int
    updated_at_ms: int
    updated_by: str
    operating_system: str
    description: str
    def __init__(self, name: _Optional[str] = ..., content: _Optional[str] = ..., sha256: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., updated_by: _Optional[str] = ..., operating_system: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class PutBaselineRequest(_message.Message):
    __slots__ = ("name", "content", "create")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    content: str
    create: bool
    def __init__(self, name: _Optional[str] = ..., content: _Optional[str] = ..., create: _Optional[bool] = ...) -> None: ...

class PutBaselineResponse(_message.Message):
    __slots__ = ("baseline",)
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    baseline: Baseline
    def __init__(self, baseline: _Optional[_Union[Baseline, _Mapping]] = ...) -> None: ...

class ListBaselinesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBaselinesResponse(_message.Message):
    __slots__ = ("baselines",)
    BASELINES_FIELD_NUMBER: _ClassVar[int]
    baselines: _containers.RepeatedCompositeFieldContainer[Baseline]
    def __init__(self, baselines: _Optional[_Iterable[_Union[Baseline, _Mapping]]] = ...) -> None: ...

class GetBaselineRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBaselineResponse(_message.Message):
    __slots__ = ("baseline",)
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    baseline: Baseline
    def __init__(self, baseline: _Optional[_Union[Baseline, _Mapping]] = ...) -> None: ...

class DeleteBaselineRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteBaselineResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeCompliance(_message.Message):
    __slots__ = ("node_id", "command_id", "baseline_id", "operation", "compliant", "started_at_ms", "ended_at_ms", "summary")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COMPLIANT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    command_id: str
    baseline_id: str
    operation: str
    compliant: bool
    started_at_ms: int
    ended_at_ms: int
    summary: bytes
    def __init__(self, node_id: _Optional[str] = ..., command_id: _Optional[str] = ..., baseline_id: _Optional[str] = ..., operation: _Optional[str] = ..., compliant: _Optional[bool] = ..., started_at_ms: _Optional[int] = ..., ended_at_ms: _Optional[int] = ..., summary: _Optional[bytes] = ...) -> None: ...

class ListComplianceRequest(_message.Message):
    __slots__ = ("max_results", "next_token", "non_compliant_only")
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NON_COMPLIANT_ONLY_FIELD_NUMBER: _ClassVar[int]
    max_results: int
    next_token: str
    non_compliant_only: bool
    def __init__(self, max_results: _Optional[int] = ..., next_token: _Optional[str] = ..., non_compliant_only: _Optional[bool] = ...) -> None: ...

class ListComplianceResponse(_message.Message):
    __slots__ = ("nodes", "next_token")
    NODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeCompliance]
    next_token: str
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeCompliance, _Mapping]]] = ..., next_token: _Optional[str] = ...) -> None: ...

class GetComplianceRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class GetComplianceResponse(_message.Message):
    __slots__ = ("compliance",)
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    compliance: NodeCompliance
    def __init__(self, compliance: _Optional[_Union[NodeCompliance, _Mapping]] = ...) -> None: ...

class RotateMasterKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateMasterKeyResponse(_message.Message):
    __slots__ = ("key_id", "retired", "rewrapped")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    RETIRED_FIELD_NUMBER: _ClassVar[int]
    REWRAPPED_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    retired: _containers.RepeatedScalarFieldContainer[str]
    rewrapped: int
    def __init__(self, key_id: _Optional[str] = ..., retired: _Optional[_Iterable[str]] = ..., rewrapped: _Optional[int] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("node_id", "facts", "tags", "ping_status", "registered_at_ms", "last_seen_at_ms", "activation_id", "connection_note")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PING_STATUS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_NOTE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    facts: Facts
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    ping_status: str
    registered_at_ms: int
    last_seen_at_ms: int
    activation_id: str
    connection_note: str
    def __init__(self, node_id: _Optional[str] = ..., facts: _Optional[_Union[Facts, _Mapping]] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., ping_status: _Optional[str] = ..., registered_at_ms: _Optional[int] = ..., last_seen_at_ms: _Optional[int] = ..., activation_id: _Optional[str] = ..., connection_note: _Optional[str] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ("max_results", "next_token")
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    max_results: int
    next_token: str
    def __init__(self, max_results: _Optional[int] = ..., next_token: _Optional[str] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes", "next_token", "stream_capacity")
    NODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STREAM_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    next_token: str
    stream_capacity: StreamCapacity
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., next_token: _Optional[str] = ..., stream_capacity: _Optional[_Union[StreamCapacity, _Mapping]] = ...) -> None: ...

class StreamCapacity(_message.Message):
    __slots__ = ("open_streams", "max_streams", "open_file_limit", "refused", "first_refused_at_ms", "last_refused_at_ms")
    OPEN_STREAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FILE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    FIRST_REFUSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_REFUSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    open_streams: int
    max_streams: int
    open_file_limit: int
    refused: int
    first_refused_at_ms: int
    last_refused_at_ms: int
    def __init__(self, open_streams: _Optional[int] = ..., max_streams: _Optional[int] = ..., open_file_limit: _Optional[int] = ..., refused: _Optional[int] = ..., first_refused_at_ms: _Optional[int] = ..., last_refused_at_ms: _Optional[int] = ...) -> None: ...

class TagFilter(_message.Message):
    __slots__ = ("key", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class Targets(_message.Message):
    __slots__ = ("node_ids", "tags", "group", "all")
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedCompositeFieldContainer[TagFilter]
    group: str
    all: bool
    def __init__(self, node_ids: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[_Union[TagFilter, _Mapping]]] = ..., group: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class ResolveTargetsRequest(_message.Message):
    __slots__ = ("targets", "max_results", "next_token")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    targets: Targets
    max_results: int
    next_token: str
    def __init__(self, targets: _Optional[_Union[Targets, _Mapping]] = ..., max_results: _Optional[int] = ..., next_token: _Optional[str] = ...) -> None: ...

class ResolveTargetsResponse(_message.Message):
    __slots__ = ("nodes", "next_token")
    NODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    next_token: str
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., next_token: _Optional[str] = ...) -> None: ...

class ParameterValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class SendCommandRequest(_message.Message):
    __slots__ = ("document", "targets", "comment", "timeout_seconds", "document_name", "document_version", "document_hash", "parameters", "max_concurrency", "max_errors", "notification_config")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ParameterValues
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ParameterValues, _Mapping]] = ...) -> None: ...
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_HASH_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_ERRORS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_CONFIG_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    targets: Targets
    comment: str
    timeout_seconds: int
    document_name: str
    document_version: str
    document_hash: str
    parameters: _containers.MessageMap[str, ParameterValues]
    max_concurrency: str
    max_errors: str
    notification_config: NotificationConfig
    def __init__(self, document: _Optional[bytes] = ..., targets: _Optional[_Union[Targets, _Mapping]] = ..., comment: _Optional[str] = ..., timeout_seconds: _Optional[int] = ..., document_name: _Optional[str] = ..., document_version: _Optional[str] = ..., document_hash: _Optional[str] = ..., parameters: _Optional[_Mapping[str, ParameterValues]] = ..., max_concurrency: _Optional[str] = ..., max_errors: _Optional[str] = ..., notification_config: _Optional[_Union[NotificationConfig, _Mapping]] = ...) -> None: ...

class NotificationConfig(_message.Message):
    __slots__ = ("url", "events", "type")
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    type: str
    def __init__(self, url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., type: _Optional[str] = ...) -> None: ...

class StepView(_message.Message):
    __slots__ = ("result", "stdout", "stderr", "stdout_truncated", "stderr_truncated")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    result: StepResult
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    def __init__(self, result: _Optional[_Union[StepResult, _Mapping]] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., stdout_truncated: _Optional[bool] = ..., stderr_truncated: _Optional[bool] = ...) -> None: ...

class Invocation(_message.Message):
    __slots__ = ("command_id", "node_id", "status", "detail", "exit_code", "started_at_ms", "ended_at_ms", "steps")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    node_id: str
    status: Status
    detail: StatusDetail
    exit_code: int
    started_at_ms: int
    ended_at_ms: int
    steps: _containers.RepeatedCompositeFieldContainer[StepView]
    def __init__(self, command_id: _Optional[str] = ..., node_id: _Optional[str] = ..., status: _Optional[_Union[Status, str]] = ..., detail: _Optional[_Union[StatusDetail, str]] = ..., exit_code: _Optional[int] = ..., started_at_ms: _Optional[int] = ..., ended_at_ms: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[StepView, _Mapping]]] = ...) -> None: ...

class CommandInfo(_message.Message):
    __slots__ = ("command_id", "document_name", "document_sha256", "status", "status_detail", "comment", "requested_by", "created_at_ms", "expires_at_ms", "target_count", "completed_count", "error_count", "targets", "detail", "delivery_timed_out_count", "max_concurrency", "max_errors", "document_version", "parameters", "notification_config")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ParameterValues
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ParameterValues, _Mapping]] = ...) -> None: ...
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TARGET_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_TIMED_OUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_ERRORS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_CONFIG_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    document_name: str
    document_sha256: bytes
    status: Status
    status_detail: str
    comment: str
    requested_by: str
    created_at_ms: int
    expires_at_ms: int
    target_count: int
    completed_count: int
    error_count: int
    targets: Targets
    detail: StatusDetail
    delivery_timed_out_count: int
    max_concurrency: str
    max_errors: str
    document_version: int
    parameters: _containers.MessageMap[str, ParameterValues]
    notification_config: NotificationConfig
    def __init__(self, command_id: _Optional[str] = ..., document_name: _Optional[str] = ..., document_sha256: _Optional[bytes] = ..., status: _Optional[_Union[Status, str]] = ..., status_detail: _Optional[str] = ..., comment: _Optional[str] = ..., requested_by: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., target_count: _Optional[int] = ..., completed_count: _Optional[int] = ..., error_count: _Optional[int] = ..., targets: _Optional[_Union[Targets, _Mapping]] = ..., detail: _Optional[_Union[StatusDetail, str]] = ..., delivery_timed_out_count: _Optional[int] = ..., max_concurrency: _Optional[str] = ..., max_errors: _Optional[str] = ..., document_version: _Optional[int] = ..., parameters: _Optional[_Mapping[str, ParameterValues]] = ..., notification_config: _Optional[_Union[NotificationConfig, _Mapping]] = ...) -> None: ...

class SendCommandResponse(_message.Message):
    __slots__ = ("command", "invocations")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    command: CommandInfo
    invocations: _containers.RepeatedCompositeFieldContainer[Invocation]
    def __init__(self, command: _Optional[_Union[CommandInfo, _Mapping]] = ..., invocations: _Optional[_Iterable[_Union[Invocation, _Mapping]]] = ...) -> None: ...

class ExpandDocumentRequest(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    def __init__(self, document: _Optional[bytes] = ...) -> None: ...

class ExpandDocumentResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    def __init__(self, document: _Optional[bytes] = ...) -> None: ...

class ListCommandsRequest(_message.Message):
    __slots__ = ("limit", "command_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    command_id: str
    def __init__(self, limit: _Optional[int] = ..., command_id: _Optional[str] = ...) -> None: ...

class ListCommandsResponse(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[CommandInfo]
    def __init__(self, commands: _Optional[_Iterable[_Union[CommandInfo, _Mapping]]] = ...) -> None: ...

class GetCommandRequest(_message.Message):
    __slots__ = ("command_id", "max_results", "next_token")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    max_results: int
    next_token: str
    def __init__(self, command_id: _Optional[str] = ..., max_results: _Optional[int] = ..., next_token: _Optional[str] = ...) -> None: ...

class GetCommandResponse(_message.Message):
    __slots__ = ("command", "invocations", "document", "next_token")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    command: CommandInfo
    invocations: _containers.RepeatedCompositeFieldContainer[Invocation]
    document: bytes
    next_token: str
    def __init__(self, command: _Optional[_Union[CommandInfo, _Mapping]] = ..., invocations: _Optional[_Iterable[_Union[Invocation, _Mapping]]] = ..., document: _Optional[bytes] = ..., next_token: _Optional[str] = ...) -> None: ...

class GetOutputRequest(_message.Message):
    __slots__ = ("command_id", "node_id", "step_name", "full")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    node_id: str
    step_name: str
    full: bool
    def __init__(self, command_id: _Optional[str] = ..., node_id: _Optional[str] = ..., step_name: _Optional[str] = ..., full: _Optional[bool] = ...) -> None: ...

class StepOutput(_message.Message):
    __slots__ = ("step_name", "stdout", "stderr", "stdout_truncated", "stderr_truncated")
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    step_name: str
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    def __init__(self, step_name: _Optional[str] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., stdout_truncated: _Optional[bool] = ..., stderr_truncated: _Optional[bool] = ...) -> None: ...

class GetOutputResponse(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[StepOutput]
    def __init__(self, steps: _Optional[_Iterable[_Union[StepOutput, _Mapping]]] = ...) -> None: ...

class StreamOutputRequest(_message.Message):
    __slots__ = ("command_id", "node_id", "step_name")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    node_id: str
    step_name: str
    def __init__(self, command_id: _Optional[str] = ..., node_id: _Optional[str] = ..., step_name: _Optional[str] = ...) -> None: ...

class OutputPiece(_message.Message):
    __slots__ = ("step_name", "stream", "data", "last", "truncated")
    STEP_NAME_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    step_name: str
    stream: OutputStream
    data: bytes
    last: bool
    truncated: bool
    def __init__(self, step_name: _Optional[str] = ..., stream: _Optional[_Union[OutputStream, str]] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ..., truncated: _Optional[bool] = ...) -> None: ...

class WatchCommandRequest(_message.Message):
    __slots__ = ("command_id",)
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    def __init__(self, command_id: _Optional[str] = ...) -> None: ...

class CommandEvent(_message.Message):
    __slots__ = ("output", "invocation", "command", "node_id", "complete")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    output: OutputChunk
    invocation: Invocation
    command: CommandInfo
    node_id: str
    complete: bool
    def __init__(self, output: _Optional[_Union[OutputChunk, _Mapping]] = ..., invocation: _Optional[_Union[Invocation, _Mapping]] = ..., command: _Optional[_Union[CommandInfo, _Mapping]] = ..., node_id: _Optional[str] = ..., complete: _Optional[bool] = ...) -> None: ...

class CancelCommandRequest(_message.Message):
    __slots__ = ("command_id", "node_ids")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, command_id: _Optional[str] = ..., node_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CancelCommandResponse(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: CommandInfo
    def __init__(self, command: _Optional[_Union[CommandInfo, _Mapping]] = ...) -> None: ...

class DocumentInfo(_message.Message):
    __slots__ = ("name", "version", "latest_version", "default_version", "sha256", "description", "format", "created_at_ms", "created_by", "builtin", "parameters", "version_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    VERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    latest_version: int
    default_version: int
    sha256: str
    description: str
    format: str
    created_at_ms: int
    created_by: str
    builtin: bool
    parameters: _containers.RepeatedScalarFieldContainer[str]
    version_name: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., latest_version: _Optional[int] = ..., default_version: _Optional[int] = ..., sha256: _Optional[str] = ..., description: _Optional[str] = ..., format: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., builtin: _Optional[bool] = ..., parameters: _Optional[_Iterable[str]] = ..., version_name: _Optional[str] = ...) -> None: ...

class PutDocumentRequest(_message.Message):
    __slots__ = ("name", "content", "format", "create", "version_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    content: bytes
    format: str
    create: bool
    version_name: str
    def __init__(self, name: _Optional[str] = ..., content: _Optional[bytes] = ..., format: _Optional[str] = ..., create: _Optional[bool] = ..., version_name: _Optional[str] = ...) -> None: ...

class PutDocumentResponse(_message.Message):
    __slots__ = ("document", "warnings")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    document: DocumentInfo
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, document: _Optional[_Union[DocumentInfo, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[DocumentInfo]
    def __init__(self, documents: _Optional[_Iterable[_Union[DocumentInfo, _Mapping]]] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("name", "version", "version_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    version_name: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., version_name: _Optional[str] = ...) -> None: ...

class GetDocumentResponse(_message.Message):
    __slots__ = ("document", "content")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    document: DocumentInfo
    content: bytes
    def __init__(self, document: _Optional[_Union[DocumentInfo, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("name", "version", "version_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    version_name: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., version_name: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetDefaultVersionRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class SetDefaultVersionResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: DocumentInfo
    def __init__(self, document: _Optional[_Union[DocumentInfo, _Mapping]] = ...) -> None: ...

class ListDocumentVersionsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDocumentVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[DocumentInfo]
    def __init__(self, versions: _Optional[_Iterable[_Union[DocumentInfo, _Mapping]]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("name", "targets", "created_at_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    targets: Targets
    created_at_ms: int
    def __init__(self, name: _Optional[str] = ..., targets: _Optional[_Union[Targets, _Mapping]] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class PutGroupRequest(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class PutGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetGroupResponse(_message.Message):
    __slots__ = ("group", "nodes")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    group: Group
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class DeleteGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TagNodeRequest(_message.Message):
    __slots__ = ("node_id", "tags", "remove")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    remove: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node_id: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., remove: _Optional[_Iterable[str]] = ...) -> None: ...

class TagNodeResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: Node
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ...) -> None: ...

class StatusEvent(_message.Message):
    __slots__ = ("kind", "command_id", "node_id", "status", "detail", "at_ms", "seq", "note")
    KIND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    command_id: str
    node_id: str
    status: Status
    detail: StatusDetail
    at_ms: int
    seq: int
    note: str
    def __init__(self, kind: _Optional[str] = ..., command_id: _Optional[str] = ..., node_id: _Optional[str] = ..., status: _Optional[_Union[Status, str]] = ..., detail: _Optional[_Union[StatusDetail, str]] = ..., at_ms: _Optional[int] = ..., seq: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("after_seq", "since_ms", "command_id", "node_id")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    since_ms: int
    command_id: str
    node_id: str
    def __init__(self, after_seq: _Optional[int] = ..., since_ms: _Optional[int] = ..., command_id: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("after_seq", "since_ms", "command_id", "node_id", "limit")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    since_ms: int
    command_id: str
    node_id: str
    limit: int
    def __init__(self, after_seq: _Optional[int] = ..., since_ms: _Optional[int] = ..., command_id: _Optional[str] = ..., node_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "more")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[StatusEvent]
    more: bool
    def __init__(self, events: _Optional[_Iterable[_Union[StatusEvent, _Mapping]]] = ..., more: _Optional[bool] = ...) -> None: ...

class Operator(_message.Message):
    __slots__ = ("name", "created_at_ms", "created_by", "revoked_at_ms", "policies", "certificates")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at_ms: int
    created_by: str
    revoked_at_ms: int
    policies: _containers.RepeatedScalarFieldContainer[str]
    certificates: _containers.RepeatedCompositeFieldContainer[Certificate]
    def __init__(self, name: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., revoked_at_ms: _Optional[int] = ..., policies: _Optional[_Iterable[str]] = ..., certificates: _Optional[_Iterable[_Union[Certificate, _Mapping]]] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("serial", "issued_at_ms", "not_after_ms", "revoked_at_ms")
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    serial: str
    issued_at_ms: int
    not_after_ms: int
    revoked_at_ms: int
    def __init__(self, serial: _Optional[str] = ..., issued_at_ms: _Optional[int] = ..., not_after_ms: _Optional[int] = ..., revoked_at_ms: _Optional[int] = ...) -> None: ...

class CreateOperatorRequest(_message.Message):
    __slots__ = ("name", "csr_pem", "valid_days", "policies")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    csr_pem: bytes
    valid_days: int
    policies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., csr_pem: _Optional[bytes] = ..., valid_days: _Optional[int] = ..., policies: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateOperatorResponse(_message.Message):
    __slots__ = ("operator", "certificate_pem", "ca_pem")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    operator: Operator
    certificate_pem: bytes
    ca_pem: bytes
    def __init__(self, operator: _Optional[_Union[Operator, _Mapping]] = ..., certificate_pem: _Optional[bytes] = ..., ca_pem: _Optional[bytes] = ...) -> None: ...

class RenewOperatorRequest(_message.Message):
    __slots__ = ("name", "csr_pem", "valid_days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    csr_pem: bytes
    valid_days: int
    def __init__(self, name: _Optional[str] = ..., csr_pem: _Optional[bytes] = ..., valid_days: _Optional[int] = ...) -> None: ...

class RenewOperatorResponse(_message.Message):
    __slots__ = ("operator", "certificate_pem", "ca_pem")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    operator: Operator
    certificate_pem: bytes
    ca_pem: bytes
    def __init__(self, operator: _Optional[_Union[Operator, _Mapping]] = ..., certificate_pem: _Optional[bytes] = ..., ca_pem: _Optional[bytes] = ...) -> None: ...

class ListOperatorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListOperatorsResponse(_message.Message):
    __slots__ = ("operators",)
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    operators: _containers.RepeatedCompositeFieldContainer[Operator]
    def __init__(self, operators: _Optional[_Iterable[_Union[Operator, _Mapping]]] = ...) -> None: ...

class GetOperatorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetOperatorResponse(_message.Message):
    __slots__ = ("operator",)
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    operator: Operator
    def __init__(self, operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class RevokeOperatorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeOperatorResponse(_message.Message):
    __slots__ = ("operator", "serials")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    SERIALS_FIELD_NUMBER: _ClassVar[int]
    operator: Operator
    serials: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, operator: _Optional[_Union[Operator, _Mapping]] = ..., serials: _Optional[_Iterable[str]] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("name", "document", "builtin", "created_at_ms", "updated_at_ms", "created_by", "attached_to")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_TO_FIELD_NUMBER: _ClassVar[int]
    name: str
    document: str
    builtin: bool
    created_at_ms: int
    updated_at_ms: int
    created_by: str
    attached_to: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., document: _Optional[str] = ..., builtin: _Optional[bool] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., attached_to: _Optional[_Iterable[str]] = ...) -> None: ...

class PutPolicyRequest(_message.Message):
    __slots__ = ("name", "document", "create")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    document: str
    create: bool
    def __init__(self, name: _Optional[str] = ..., document: _Optional[str] = ..., create: _Optional[bool] = ...) -> None: ...

class PutPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[Policy]
    def __init__(self, policies: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class DeletePolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeletePolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttachPolicyRequest(_message.Message):
    __slots__ = ("policy", "operator", "detach")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    policy: str
    operator: str
    detach: bool
    def __init__(self, policy: _Optional[str] = ..., operator: _Optional[str] = ..., detach: _Optional[bool] = ...) -> None: ...

class AttachPolicyResponse(_message.Message):
    __slots__ = ("operator",)
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    operator: Operator
    def __init__(self, operator: _Optional[_Union[Operator, _Mapping]] = ...) -> None: ...

class SimulatePolicyRequest(_message.Message):
    __slots__ = ("operator", "action", "document", "targets", "resources", "source_ip")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IP_FIELD_NUMBER: _ClassVar[int]
    operator: str
    action: str
    document: str
    targets: Targets
    resources: _containers.RepeatedScalarFieldContainer[str]
    source_ip: str
    def __init__(self, operator: _Optional[str] = ..., action: _Optional[str] = ..., document: _Optional[str] = ..., targets: _Optional[_Union[Targets, _Mapping]] = ..., resources: _Optional[_Iterable[str]] = ..., source_ip: _Optional[str] = ...) -> None: ...

class ResourceDecision(_message.Message):
    __slots__ = ("resource", "decision", "statement")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    resource: str
    decision: str
    statement: str
    def __init__(self, resource: _Optional[str] = ..., decision: _Optional[str] = ..., statement: _Optional[str] = ...) -> None: ...

class SimulatePolicyResponse(_message.Message):
    __slots__ = ("decision", "explanation", "resources")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    decision: str
    explanation: str
    resources: _containers.RepeatedCompositeFieldContainer[ResourceDecision]
    def __init__(self, decision: _Optional[str] = ..., explanation: _Optional[str] = ..., resources: _Optional[_Iterable[_Union[ResourceDecision, _Mapping]]] = ...) -> None: ...

class ReadAuditRequest(_message.Message):
    __slots__ = ("after_seq", "since_ms", "until_ms", "actor", "action", "limit", "heads")
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    since_ms: int
    until_ms: int
    actor: str
    action: str
    limit: int
    heads: bool
    def __init__(self, after_seq: _Optional[int] = ..., since_ms: _Optional[int] = ..., until_ms: _Optional[int] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., limit: _Optional[int] = ..., heads: _Optional[bool] = ...) -> None: ...

class AuditParameter(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("seq", "at_ms", "actor", "source_ip", "action", "outcome", "request_id", "resource", "document_version", "document_sha256", "targets", "resolved", "parameters", "detail", "prev", "digest")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IP_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PREV_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at_ms: int
    actor: str
    source_ip: str
    action: str
    outcome: str
    request_id: str
    resource: str
    document_version: int
    document_sha256: str
    targets: str
    resolved: int
    parameters: _containers.RepeatedCompositeFieldContainer[AuditParameter]
    detail: str
    prev: bytes
    digest: bytes
    def __init__(self, seq: _Optional[int] = ..., at_ms: _Optional[int] = ..., actor: _Optional[str] = ..., source_ip: _Optional[str] = ..., action: _Optional[str] = ..., outcome: _Optional[str] = ..., request_id: _Optional[str] = ..., resource: _Optional[str] = ..., document_version: _Optional[int] = ..., document_sha256: _Optional[str] = ..., targets: _Optional[str] = ..., resolved: _Optional[int] = ..., parameters: _Optional[_Iterable[_Union[AuditParameter, _Mapping]]] = ..., detail: _Optional[str] = ..., prev: _Optional[bytes] = ..., digest: _Optional[bytes] = ...) -> None: ...

class AuditHead(_message.Message):
    __slots__ = ("seq", "at_ms", "digest", "signature")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at_ms: int
    digest: bytes
    signature: bytes
    def __init__(self, seq: _Optional[int] = ..., at_ms: _Optional[int] = ..., digest: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class AuditPage(_message.Message):
    __slots__ = ("records", "heads", "public_key_pem")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    heads: _containers.RepeatedCompositeFieldContainer[AuditHead]
    public_key_pem: bytes
    def __init__(self, records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ..., heads: _Optional[_Iterable[_Union[AuditHead, _Mapping]]] = ..., public_key_pem: _Optional[bytes] = ...) -> None: ...
