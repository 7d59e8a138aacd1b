"""The store's tables, as SQLAlchemy Core metadata.

The migrations in ``migrations/versions`` create the same tables explicitly; tests/store checks the
migrated database against this MetaData so the two cannot drift. Conventions:

* enums are stored as their ``.value`` strings (no CHECK on statuses: the Status set grows);
* times are BIGINT unix milliseconds;
* facts, targets and activation tags are JSON text written by ``codec.py``;
* node tags get their own table so targeting can be pushed into SQL later.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Enum .value strings only. Every other string is TEXT: SQLite ignores lengths, so a bound elsewhere
# would fail on PostgreSQL alone.
STATUS_LEN = 32

metadata = MetaData(naming_convention=NAMING_CONVENTION)

activations = Table(
    "activations", metadata,
    Column("activation_id", Text, primary_key=True),
    Column("code_hash", LargeBinary, nullable=False),
    Column("tags", Text, nullable=False),
    Column("registration_limit", Integer, nullable=False),
    Column("registrations_count", Integer, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
)

enrolment_failures = Table(
    "enrolment_failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("activation_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("peer", Text, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index(None, "at_ms"),
)

nodes = Table(
    "nodes", metadata,
    Column("node_id", Text, primary_key=True),
    Column("facts", Text, nullable=False),
    Column("activation_id", Text, nullable=False),
    Column("certificate_serial", Text, nullable=False),
    Column("registered_at_ms", BigInteger, nullable=False),
    Column("last_seen_at_ms", BigInteger, nullable=False),
    Column("ping_status", String(STATUS_LEN), nullable=False),
)

# Each node's latest patch compliance (0008): what its last patch step reported, checked on arrival
# (plugins/sdk/patching.py); the summary is that report's canonical JSON, the other columns list it.
node_compliance = Table(
    "node_compliance", metadata,
    Column("node_id", Text, primary_key=True),
    Column("command_id", Text, nullable=False),
    Column("baseline_id", Text, nullable=False),
    Column("operation", Text, nullable=False),
    Column("compliant", Boolean, nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    Column("summary", Text, nullable=False),
)

# Agent releases (0008): wheels published for agent self-update (Outpost-UpdateAgent), fetched by
# agents over their own streams a slice at a time; not secret, so kept as they are.
agent_releases = Table(
    "agent_releases", metadata,
    Column("version", Text, primary_key=True),
    Column("filename", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("published_at_ms", BigInteger, nullable=False),
    Column("published_by", Text, nullable=False),
    Column("signing_key_id", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# The content store (0008): files copy steps send (`src:`), a 256 KiB chunk a row, each sealed at rest
# (places.content_place), as agents fetch them (controller/server/content.py).
content_files = Table(
    "content_files", metadata,
    Column("name", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("stored_at_ms", BigInteger, nullable=False),
    Column("stored_by", Text, nullable=False),
    Index("ix_content_files_sha256", "sha256"),
)

content_chunks = Table(
    "content_chunks", metadata,
    Column("name", Text, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    ForeignKeyConstraint(["name"], ["content_files.name"], ondelete="CASCADE"),
)

# The parameter store (0008): what `{{ssm:NAME}}` and `{{ssm-secure:NAME}}` refer to, put in at send
# (controller/documents/ssmref.py). Every value sealed at rest, whatever its type (places.parameter_place).
parameters = Table(
    "parameters", metadata,
    Column("name", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    Column("modified_at_ms", BigInteger, nullable=False),
    Column("modified_by", Text, nullable=False),
)

# Patch baselines (0008): YAML as the operator wrote it (plugins/sdk/patching.py checks it), sent in
# the patch steps that name it.
baselines = Table(
    "baselines", metadata,
    Column("name", Text, primary_key=True),
    Column("content", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("operating_system", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("updated_by", Text, nullable=False),
)

node_tags = Table(
    "node_tags", metadata,
    Column("node_id", Text, primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(["node_id"], ["nodes.node_id"], ondelete="CASCADE"),
    UniqueConstraint("node_id", "key"),
    Index(None, "key", "value"),
)

documents = Table(
    "documents", metadata,
    Column("sha256", LargeBinary, primary_key=True),
    Column("content", LargeBinary, nullable=False),  # sealed since 0007
)

commands = Table(
    "commands", metadata,
    Column("command_id", Text, primary_key=True),
    Column("document_name", Text, nullable=False),
    Column("document_sha256", LargeBinary, nullable=False),
    Column("targets", Text, nullable=False),
    Column("comment", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("status", String(STATUS_LEN), nullable=False),
    Column("status_detail", Text, nullable=False),
    Column("target_count", Integer, nullable=False),
    Column("completed_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    # 0002: rate control, versioned documents, parameters, cancel
    Column("max_concurrency", Text, nullable=False, server_default="50"),
    Column("max_errors", Text, nullable=False, server_default="0"),
    Column("delivery_timed_out_count", Integer, nullable=False, server_default=text("0")),
    Column("document_version", Integer, nullable=False, server_default=text("0")),  # 0: inline document
    Column("parameters", Text, nullable=False, server_default="{}"),  # JSON name -> [str], secrets masked
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    ForeignKeyConstraint(["document_sha256"], ["documents.sha256"]),
    Index(None, "created_at_ms"),
)

invocations = Table(
    "invocations", metadata,
    Column("command_id", Text, primary_key=True),
    Column("node_id", Text, primary_key=True),
    Column("status", String(STATUS_LEN), nullable=False),
    Column("status_detail", Text, nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    ForeignKeyConstraint(["command_id"], ["commands.command_id"], ondelete="CASCADE"),
    Index(None, "node_id", "status"),
)

step_results = Table(
    "step_results", metadata,
    Column("command_id", Text, primary_key=True),
    Column("node_id", Text, primary_key=True),
    Column("step_index", Integer, primary_key=True, autoincrement=False),
    Column("step_name", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("status", String(STATUS_LEN), nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("ended_at_ms", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    Column("changed", Boolean, nullable=False, server_default=false()),  # 0008
    ForeignKeyConstraint(["command_id", "node_id"], ["invocations.command_id", "invocations.node_id"],
                         ondelete="CASCADE"),
)

output_chunks = Table(
    "output_chunks", metadata,
    Column("command_id", Text, primary_key=True),
    Column("node_id", Text, primary_key=True),
    Column("step_name", Text, primary_key=True),
    Column("stream", String(8), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),  # sealed (controller/trust/sealed_records.py)
    Column("size", Integer, nullable=False, server_default=text("0")),  # 0007: the plaintext's length
    ForeignKeyConstraint(["command_id", "node_id"], ["invocations.command_id", "invocations.node_id"],
                         ondelete="CASCADE"),
    CheckConstraint("stream IN ('stdout', 'stderr')", name="stream"),
)


# -- 0002: named, versioned documents; target groups; full step output ------------------------------
#
# ``documents`` above is the content-addressed store of what commands ran (by sha256). Named
# documents are separate: one ``document_heads`` row per name, one ``document_versions`` row per
# version (versions are never removed, so a command's name/version keeps meaning what it ran; deleting
# one version marks it, 0011).

document_heads = Table(
    "document_heads", metadata,
    Column("name", Text, primary_key=True),
    Column("latest_version", Integer, nullable=False),
    Column("default_version", Integer, nullable=False),
    Column("builtin", Boolean, nullable=False, server_default=false()),
    Column("deleted", Boolean, nullable=False, server_default=false()),
)

document_versions = Table(
    "document_versions", metadata,
    Column("name", Text, primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("content", LargeBinary, nullable=False),
    Column("format", Text, nullable=False),
    Column("sha256", Text, nullable=False),  # hex
    Column("description", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("version_name", Text, nullable=True),  # 0011: SSM's VersionName; NULL: none
    Column("deleted", Boolean, nullable=False, server_default=false()),  # 0011: this version deleted (row kept)
    ForeignKeyConstraint(["name"], ["document_heads.name"]),
    CheckConstraint("format IN ('YAML', 'JSON')", name="format"),
    Index("ux_document_versions_version_name", "name", "version_name", unique=True),
)

target_groups = Table(
    "target_groups", metadata,
    Column("name", Text, primary_key=True),
    Column("targets", Text, nullable=False),  # codec.encode_targets
    Column("created_at_ms", BigInteger, nullable=False),
)

step_outputs = Table(
    "step_outputs", metadata,
    Column("command_id", Text, primary_key=True),
    Column("node_id", Text, primary_key=True),
    Column("step_name", Text, primary_key=True),
    Column("stream", String(8), primary_key=True),
    Column("data", LargeBinary, nullable=False),  # zlib-compressed, then sealed (0007)
    Column("size", Integer, nullable=False),  # uncompressed bytes
    Column("truncated", Boolean, nullable=False),
    ForeignKeyConstraint(["command_id", "node_id"], ["invocations.command_id", "invocations.node_id"],
                         ondelete="CASCADE"),
    CheckConstraint("stream IN ('stdout', 'stderr')", name="stream"),
)


# -- 0003: which controller process holds the database ----------------------------------------------
#
# One row per lease (controller/store/lease.py): today only ``sole-controller``, which one
# controller holds while it serves the database, renewed every few seconds. Times are the
# database's clock.

controller_leases = Table(
    "controller_leases", metadata,
    Column("name", Text, primary_key=True),
    Column("holder_id", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("process_space", Text, nullable=False),  # boot id and pid namespace: where pid means one process
    Column("pid", Integer, nullable=False),
    Column("process_started_ms", BigInteger, nullable=False),
    Column("listen", Text, nullable=False),
    Column("acquired_at_ms", BigInteger, nullable=False),
    Column("renewed_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
)

# Cancels the controller owes an agent: invocations it ended Cancelled while their agent was away,
# which that agent may still be running (a network cut, not a death). Sent when the node is back;
# gone once the agent answers the cancel, or with the command.
owed_cancels = Table(
    "owed_cancels", metadata,
    Column("command_id", Text, primary_key=True),
    Column("node_id", Text, primary_key=True),
    Column("at_ms", BigInteger, nullable=False),
    ForeignKeyConstraint(["command_id"], ["commands.command_id"], ondelete="CASCADE"),
)

# -- 0005: who may do what (issue 18) ----------------------------------------------------------------
#
# Operators, each named by its certificates' identity; every certificate the controller issues, by
# serial (the denylist a stream or call is checked against when it opens: gRPC Python has no CRL
# hook); policies as their authors wrote them (re-parsed when loaded, so the text is the one source)
# and which operator holds which. ``AdministratorAccess`` is built in: a row that cannot change.

operators = Table(
    "operators", metadata,
    Column("name", Text, primary_key=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
)

certificates = Table(
    "certificates", metadata,
    Column("serial", Text, primary_key=True),  # lower-case hex
    Column("role", String(STATUS_LEN), nullable=False),  # Role.value: operator or node
    Column("subject", Text, nullable=False),  # the operator's name or the node's id
    Column("issued_at_ms", BigInteger, nullable=False),
    Column("not_after_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Index(None, "subject"),
)

policies = Table(
    "policies", metadata,
    Column("name", Text, primary_key=True),
    Column("document", Text, nullable=False),
    Column("builtin", Boolean, nullable=False, server_default=false()),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
)

policy_attachments = Table(
    "policy_attachments", metadata,
    Column("policy", Text, primary_key=True),
    Column("operator", Text, primary_key=True),
    Column("attached_at_ms", BigInteger, nullable=False),
    ForeignKeyConstraint(["policy"], ["policies.name"]),
    ForeignKeyConstraint(["operator"], ["operators.name"], ondelete="CASCADE"),
    Index(None, "operator"),
)

# -- 0006: the audit trail (issue 18) ----------------------------------------------------------------
#
# Append-only: one row a record, ``seq`` 1, 2, 3, ... without gaps (a second controller appending at
# the same seq fails on the key and chains after the winner). ``prev`` and ``digest`` are SHA-256
# (controller/model.py's audit_chained); ``parameters`` is JSON text with secret values already keyed
# hashes. A head row is the controller's Ed25519 signature over a record's seq, time and digest.

audit_records = Table(
    "audit_records", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("source_ip", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("outcome", String(STATUS_LEN), nullable=False),
    Column("request_id", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("document_version", Integer, nullable=False),
    Column("document_sha256", Text, nullable=False),
    Column("targets", Text, nullable=False),
    Column("resolved", Integer, nullable=False),
    Column("parameters", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev", LargeBinary, nullable=False),
    Column("digest", LargeBinary, nullable=False),
    Index(None, "at_ms"),
    Index(None, "actor"),
)

audit_heads = Table(
    "audit_heads", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("digest", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

# A command's own notification (0009, SSM's NotificationConfig): the webhook URL sealed (it may embed a
# token; places.notification_place), SSM's events (comma-separated) and type. Gone with its command.
command_notifications = Table(
    "command_notifications", metadata,
    Column("command_id", Text, primary_key=True),
    Column("url", LargeBinary, nullable=False),
    Column("events", Text, nullable=False),
    Column("type", Text, nullable=False),
    ForeignKeyConstraint(["command_id"], ["commands.command_id"], ondelete="CASCADE"),
)

# -- 0012: the fleet's status events (controller/store/events.py) ------------------------------------
#
# ``seq`` is the database's own autoincrement (SQLite: AUTOINCREMENT, so a pruned seq is never given
# again; PostgreSQL: a bigserial): monotonic across restarts and one sequence for every controller.
# ``status`` and ``status_detail`` are empty for a node event, ``command_id`` for a node event,
# ``node_id`` for a command's own event.

status_events = Table(
    "status_events", metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("kind", String(STATUS_LEN), nullable=False),
    Column("command_id", Text, nullable=False),
    Column("node_id", Text, nullable=False),
    Column("status", String(STATUS_LEN), nullable=False),
    Column("status_detail", Text, nullable=False),
    Column("note", Text, nullable=False),
    Index(None, "at_ms"),
    Index(None, "command_id", "seq"),
    sqlite_autoincrement=True,
)
