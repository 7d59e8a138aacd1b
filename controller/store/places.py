"""Where each sealed value belongs: the associated data its record is sealed with (its table,
column and key), so that a value copied into another row does not open there."""
from __future__ import annotations


def where_of(table: str, *key: str | int) -> bytes:
    """A place: the table and column, then the parts of the row's key."""
    return "\x00".join([table, *map(str, key)]).encode("utf-8", "surrogateescape")


def document_place(sha256: bytes) -> bytes:
    """A command's document (documents.content, by the document's sha256)."""
    return where_of("documents.content", sha256.hex())


def chunk_place(command_id: str, node_id: str, step_name: str, stream: str, seq: int) -> bytes:
    """An output chunk (output_chunks.data)."""
    return where_of("output_chunks.data", command_id, node_id, step_name, stream, seq)


def blob_place(command_id: str, node_id: str, step_name: str, stream: str) -> bytes:
    """A settled stream's compressed output (step_outputs.data)."""
    return where_of("step_outputs.data", command_id, node_id, step_name, stream)


def content_place(name: str, seq: int) -> bytes:
    """A chunk of a content store file (content_chunks.data)."""
    return where_of("content_chunks.data", name, seq)


def parameter_place(name: str, version: int) -> bytes:
    """A version of a parameter store value (parameters.value)."""
    return where_of("parameters.value", name, version)


def notification_place(command_id: str) -> bytes:
    """A command's notification webhook URL (command_notifications.url)."""
    return where_of("command_notifications.url", command_id)
