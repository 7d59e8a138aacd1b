"""The parameter store: named values (SSM Parameter Store's String, StringList and SecureString) that
``{{ssm:NAME}}`` and ``{{ssm-secure:NAME}}`` references are filled from when a command is sent
(controller/documents/ssmref.py). Every value is sealed at rest with its place (name and version),
whatever its type; a version counts the puts of its name."""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine, RowMapping, delete, select

from controller.store.engine import read_tx, write_tx
from controller.store.errors import Conflict, NotFound
from controller.store.inlists import slices
from controller.store.places import parameter_place
from controller.store.schema import parameters
from controller.store.sealer import Sealer

TYPES = ("String", "StringList", "SecureString")
SECURE = "SecureString"
MAX_NAME_CHARS = 1011  # SSM's
MAX_VALUE_BYTES = 4096  # SSM's standard tier
MAX_DESCRIPTION_CHARS = 1024
MAX_DEPTH = 15  # levels of a hierarchical name, as SSM
_NAME = re.compile(r"[A-Za-z0-9_.\-/]+")
_RESERVED = re.compile(r"^/?(aws|ssm)", re.IGNORECASE)
NAME_RULE = ("letters, digits and . - _ /, at most 1011 characters; a hierarchical name begins with / "
             "(/app/db/password), and no name begins with aws or ssm")


def name_problem(name: str) -> str | None:
    """Why ``name`` is no parameter name (SSM's rules), or None."""
    if not name:
        return "a parameter name is required"
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        return f"{name[:80]!r} is not a parameter name: {NAME_RULE}"
    if _RESERVED.match(name):
        return f"{name!r}: parameter names beginning with aws or ssm (any case) are reserved, as in SSM"
    if "/" in name and (not name.startswith("/") or name.endswith("/") or "//" in name):
        return f"{name!r}: a hierarchical name begins with / and has no empty level (/app/db/password)"
    if name.count("/") > MAX_DEPTH:
        return f"{name!r}: at most {MAX_DEPTH} levels"
    return None


def value_problem(type_: str, value: str, description: str) -> str | None:
    """Why a put of this type, value and description is refused, or None. Never quotes the value."""
    if type_ not in TYPES:
        return f"type: expected one of {', '.join(TYPES)}, got {type_[:40]!r}"
    size = len(value.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= MAX_VALUE_BYTES:
        return f"value: 1 to {MAX_VALUE_BYTES} bytes (SSM's standard tier), got {size}"
    if type_ == "StringList" and any(not item for item in value.split(",")):
        return "value: a StringList is items separated by commas, none of them empty"
    if len(description) > MAX_DESCRIPTION_CHARS:
        return f"description: at most {MAX_DESCRIPTION_CHARS} characters, got {len(description)}"
    return None


@dataclass(frozen=True)
class ParameterRecord:
    name: str
    type: str
    version: int
    description: str
    modified_at_ms: int
    modified_by: str
    value: str | None = None  # only where asked for

    @property
    def secure(self) -> bool:
        return self.type == SECURE


class ParameterTables:
    """Mixed into Store: the parameter store."""

    _engine: Engine
    _sealer: Sealer

    def _record(self, r: RowMapping, *, with_value: bool) -> ParameterRecord:
        value = None
        if with_value:
            place = parameter_place(str(r["name"]), int(r["version"]))
            value = self._sealer.open(bytes(r["value"]), place).decode("utf-8", "surrogatepass")
        return ParameterRecord(str(r["name"]), str(r["type"]), int(r["version"]), str(r["description"]),
                               int(r["modified_at_ms"]), str(r["modified_by"]), value)

    def put_parameter(self, name: str, type_: str, value: str, description: str, *, overwrite: bool,
                      at_ms: int, by: str) -> ParameterRecord:
        """Store ``value`` as ``name``'s next version (its first: 1). Conflict when ``name`` is stored
        and ``overwrite`` is not set; an overwrite without a description keeps the one there was."""
        with write_tx(self._engine) as conn:
            row = conn.execute(select(parameters.c.version, parameters.c.description)
                               .where(parameters.c.name == name)).first()
            if row is not None and not overwrite:
                raise Conflict(f"parameter {name} already exists (version {row.version}); put it with --overwrite "
                               "to store a new version")
            version = 1 if row is None else int(row.version) + 1
            description = description or ("" if row is None else str(row.description))
            sealed = self._sealer.seal(value.encode("utf-8", "surrogatepass"), parameter_place(name, version))
            values = dict(type=type_, value=sealed, version=version, description=description, modified_at_ms=at_ms,
                          modified_by=by)
            if row is None:
                conn.execute(parameters.insert().values(name=name, **values))
            else:
                conn.execute(parameters.update().where(parameters.c.name == name).values(**values))
        return ParameterRecord(name, type_, version, description, at_ms, by)

    def get_parameter(self, name: str, *, with_value: bool = True) -> ParameterRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(parameters).where(parameters.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no parameter named {name!r} in the parameter store")
        return self._record(row, with_value=with_value)

    def list_parameters(self, path: str = "") -> list[ParameterRecord]:
        """Every parameter (without its value) under the hierarchy ``path`` (``/app``: /app/a, /app/b/c;
        empty: all), by name."""
        prefix = path.rstrip("/") + "/"
        q = select(*[c for c in parameters.c if c.name != "value"]).order_by(parameters.c.name)
        with read_tx(self._engine) as conn:
            rows = list(conn.execute(q).mappings())
        return [self._record(r, with_value=False) for r in rows if not path or str(r["name"]).startswith(prefix)]

    def delete_parameter(self, name: str) -> None:
        with write_tx(self._engine) as conn:
            if conn.execute(delete(parameters).where(parameters.c.name == name)).rowcount == 0:
                raise NotFound(f"no parameter named {name!r} in the parameter store")

    def parameters_for_send(self, names: Collection[str]) -> dict[str, ParameterRecord]:
        """The records, values opened, of those of ``names`` that are stored (what a send fills in)."""
        found: dict[str, ParameterRecord] = {}
        with read_tx(self._engine) as conn:
            for part in slices(sorted(set(names))):
                q = select(parameters).where(parameters.c.name.in_(part))
                for r in conn.execute(q).mappings():
                    found[str(r["name"])] = self._record(r, with_value=True)
        return found
