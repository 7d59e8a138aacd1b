"""Access policies: AWS IAM's policy language on Outpost's actions and resources, typed and parsed.

A policy is IAM's ``{"Version", "Statement": [...]}``, in JSON or YAML; IAM policies written for SSM
parse too, their names mapped by controller/trust/policy_iam.py. Evaluation: policy_eval.py.
Where IAM left room, or Outpost differs:

- Text: at most 64 KiB and 100 statements, read by controller/trust/policy_text.py (JSON or YAML,
  every value a string: YAML's unquoted ``80`` or ``yes`` is refused, not converted; only ``Version``
  may be read by YAML as a date). Each place takes its own types only, so a list or mapping nested
  deeper than the grammar is refused where it starts.
- ``Version`` is optional, ``2012-10-17`` or ``2008-10-17``. Policy variables (``${...}``) are
  refused under either: taken literally, a Deny using one would match nothing.
- ``Statement`` may be one mapping; errors still name it ``Statement[0]``. Element names are exact
  case, as IAM's; ``Principal``/``NotPrincipal`` (a resource policy) are refused. A ``Sid`` is
  letters, digits, ``_`` and ``-`` (so ``policy:Sid`` reads back), unique; ``""`` is no Sid.
- Actions resolve at parse time into a set of :class:`Action`: a pattern is matched, ignoring case
  and with ``*``/``?``, against Outpost's names and the SSM names policy_iam.py maps. One that
  matches none is refused (a typo, or a service Outpost has no equivalent of). ``NotAction`` is the
  complement over every Outpost action, so an Allow with ``NotAction: ssm:SendCommand`` allows
  ``policy:*`` too, as IAM's would allow every other service.
- Resources: ``*`` or ``TYPE/NAME``, TYPE written out (``*/x`` is refused); ``*`` and ``?`` only in
  NAME, case-sensitive; ``*`` matches ``/`` too, as in IAM.
- Conditions: operator names exact case; key names ignore case, a tag's key does not (Outpost's tags,
  like EC2's, are case-sensitive). ``IpAddress``/``NotIpAddress`` only on ``request:source_ip`` and it
  only with them (a string compared with a CIDR would never match). A CIDR with host bits set is
  taken as its network, as IAM does. ``ForAnyValue:``/``ForAllValues:`` are refused: every key holds
  one value (a document's names, see policy_eval.py, excepted). ``Condition: {}`` is no condition;
  an operator naming no key is refused.
"""
from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.trust import policy_iam
from controller.trust.policy_terms import (
    Action,
    ConditionOperator,
    Effect,
    KeyKind,
    PolicyVersion,
    ResourceType,
)
from controller.trust.policy_text import (
    as_mapping,
    as_strings,
    as_text,
    did_you_mean,
    load_text,
    place,
)
from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown
from plugins.sdk.schema import kind_of

MAX_STATEMENTS = 100
ADMINISTRATOR_ACCESS_NAME = "AdministratorAccess"


SERVICES = tuple(dict.fromkeys(action.service for action in Action))
_NAMED_ACTIONS = tuple((a.value, a) for a in Action)
_SSM_ACTIONS = tuple((ssm, Action(outpost)) for ssm, outpost in policy_iam.SSM_ACTIONS)
_KEYS_HELP = "node:tag/KEY, document:name, operator:name, request:source_ip"
_SID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_POLICY_KEYS = ("Version", "Id", "Statement")
_STATEMENT_KEYS = ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition")
_RESOURCE_POLICY_KEYS = ("Principal", "NotPrincipal")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Glob:
    """A pattern with IAM's wildcards: ``*`` any run of characters (``/`` too), ``?`` any one.

    Matched part by part, never by backtracking: the text between two ``*`` has a fixed length, so
    taking each part at its leftmost place is right, and a pattern of many stars costs no more than
    a scan per part (a regex of ``.*`` would be exponential in them)."""
    pattern: str
    ignore_case: bool = False
    _parts: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = re.DOTALL | (re.IGNORECASE if self.ignore_case else 0)
        parts = tuple(re.compile("".join("." if c == "?" else re.escape(c) for c in part), flags)
                      for part in self.pattern.split("*"))
        object.__setattr__(self, "_parts", parts)

    def matches(self, text: str) -> bool:
        parts = self._parts
        first = parts[0].match(text)
        if first is None:
            return False
        if len(parts) == 1:
            return first.end() == len(text)
        start, end = first.end(), len(text) - len(self.pattern.rpartition("*")[2])
        if end < start or parts[-1].fullmatch(text, end) is None:
            return False
        for part in parts[1:-1]:
            found = part.search(text, start, end)
            if found is None:
                return False
            start = found.end()
        return True


@dataclass(frozen=True)
class ResourcePattern:
    """``*`` or ``TYPE/NAME`` in Outpost's words; ``written`` is the policy's text (an ARN, if pasted)."""
    text: str
    written: str
    type: ResourceType | None  # None for `*`
    glob: Glob = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "glob", Glob(self.text))


@dataclass(frozen=True)
class ConditionKey:
    kind: KeyKind
    tag: str = ""  # a tag's key, for NODE_TAG

    @property
    def name(self) -> str:
        return self.kind.value + self.tag


@dataclass(frozen=True)
class Condition:
    """One key under one operator: true if the key's value matches any of ``values`` (``networks``
    for the address operators), negated for the Not operators; ``if_exists`` holds for an absent key."""
    operator: ConditionOperator
    if_exists: bool
    key: ConditionKey
    values: tuple[str, ...]
    networks: tuple[IPNetwork, ...] = ()
    globs: tuple[Glob, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        like = self.operator in (ConditionOperator.STRING_LIKE, ConditionOperator.STRING_NOT_LIKE)
        object.__setattr__(self, "globs", tuple(Glob(v) for v in self.values) if like else ())


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    effect: Effect
    actions: frozenset[Action]  # as written (Action's, or NotAction's when not_action)
    not_action: bool
    resources: tuple[ResourcePattern, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        """How explanations name the statement: its Sid, else ``Statement[i]``."""
        return self.sid or f"Statement[{self.index}]"

    def covers(self, action: Action) -> bool:
        return (action in self.actions) != self.not_action


@dataclass(frozen=True)
class Policy:
    version: PolicyVersion | None
    id: str | None
    statements: tuple[Statement, ...]


def parse_policy(text: str | bytes) -> Policy:
    """The policy in ``text`` (JSON or YAML); InputError, one line naming the place, if it is not one."""
    data = load_text(text)
    doc = as_mapping(data, "policy", _POLICY_KEYS, "a mapping with a Statement")
    version = _version(doc["Version"]) if "Version" in doc else None
    policy_id = as_text(doc["Id"], "Id") if "Id" in doc else None
    if "Statement" not in doc:
        raise InputError("policy", "has no Statement")
    raw = doc["Statement"]
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise InputError("Statement", f"expected a statement or a list of them, got {kind_of(raw)}")
    if not items:
        raise InputError("Statement", "is empty; a policy has at least one statement")
    if len(items) > MAX_STATEMENTS:
        raise InputError("Statement", f"has {len(items)} statements; a policy has at most {MAX_STATEMENTS}")
    statements = tuple(_statement(item, i) for i, item in enumerate(items))
    first: dict[str, int] = {}
    for st in statements:
        if st.sid is not None and first.setdefault(st.sid, st.index) != st.index:
            raise InputError(f"Statement[{st.index}].Sid",
                             f"{shown(st.sid)} is Statement[{first[st.sid]}]'s Sid too; Sids are unique in a policy")
    return Policy(version, policy_id, statements)


# -- statements -----------------------------------------------------------------------------------

def _statement(value: object, index: int) -> Statement:
    where = f"Statement[{index}]"
    st = as_mapping(value, where, None, "a statement (a mapping)")
    for key in _RESOURCE_POLICY_KEYS:
        if key in st:
            raise InputError(f"{where}.{key}", "a statement with a Principal belongs to a resource policy; Outpost's "
                             "policies are identity policies, attached to operators, and name none")
    as_mapping(st, where, _STATEMENT_KEYS, "")
    sid = as_text(st["Sid"], f"{where}.Sid") if "Sid" in st else ""
    if sid and not _SID.fullmatch(sid):
        raise InputError(f"{where}.Sid", f"{shown(sid)} is not 1 to 128 letters, digits, '_' or '-'")
    if "Effect" not in st:
        raise InputError(where, "has no Effect ('Allow' or 'Deny')")
    effect_text = as_text(st["Effect"], f"{where}.Effect")
    try:
        effect = Effect(effect_text)
    except ValueError:
        raise InputError(f"{where}.Effect", f"must be 'Allow' or 'Deny', got {shown(effect_text)}") from None
    action_key, actions = _one_of(st, where, "Action", "NotAction", "has no Action or NotAction")
    resource_key, resources = _one_of(st, where, "Resource", "NotResource",
                                      "has no Resource or NotResource (an identity policy names the resources "
                                      "it covers; write \"Resource\": \"*\" for all)")
    conditions = _conditions(st["Condition"], f"{where}.Condition") if "Condition" in st else ()
    return Statement(index=index, sid=sid or None, effect=effect,
                     actions=frozenset().union(*(_action(text, at) for at, text in actions)),
                     not_action=action_key == "NotAction",
                     resources=tuple(_resource(text, at) for at, text in resources),
                     not_resource=resource_key == "NotResource", conditions=conditions)


def _one_of(st: Mapping[str, object], where: str, key: str, not_key: str,
            missing: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    if key in st and not_key in st:
        raise InputError(where, f"has both {key} and {not_key}; a statement has one of them")
    for used in (key, not_key):
        if used in st:
            return used, as_strings(st[used], f"{where}.{used}")
    raise InputError(where, missing)


def _action(pattern: str, where: str) -> frozenset[Action]:
    service, colon, _ = pattern.partition(":")
    if pattern != "*" and not colon:
        raise InputError(where, f"{shown(pattern)} is not SERVICE:ACTION (e.g. command:Send) or *")
    wild = "*" in service or "?" in service
    lowered = service.lower()
    if wild:
        candidates = _NAMED_ACTIONS + _SSM_ACTIONS
    elif lowered == policy_iam.SSM_SERVICE:
        candidates = _SSM_ACTIONS
    elif lowered in SERVICES:
        candidates = tuple((name, a) for name, a in _NAMED_ACTIONS if a.service == lowered)
    else:
        hint = did_you_mean(pattern, _NAMED_ACTIONS)
        raise InputError(where, f"{shown(pattern)} has no Outpost equivalent: Outpost has no service {shown(service)} "
                         f"({hint}its services: {', '.join(SERVICES)}; and ssm: actions it maps)")
    if "*" in pattern or "?" in pattern:
        glob = Glob(pattern, ignore_case=True)
        found = frozenset(action for name, action in candidates if glob.matches(name))
    else:  # most are written out: no pattern to compile
        found = frozenset(action for name, action in candidates if name.lower() == pattern.lower())
    if found:
        return found
    if candidates is _SSM_ACTIONS:
        verb = "matches no SSM action with an" if "*" in pattern or "?" in pattern else "has no"
        raise InputError(where, f"{shown(pattern)} {verb} Outpost equivalent (Outpost maps {policy_iam.ssm_names()})")
    known = ", ".join(f"{s}:*" for s in SERVICES) if wild else ", ".join(name for name, _ in candidates)
    raise InputError(where, f"unknown action {shown(pattern)} ({did_you_mean(pattern, candidates)}known: {known})")


def _resource(text: str, where: str) -> ResourcePattern:
    if "${" in text:
        raise InputError(where, f"{shown(text)}: policy variables (${{...}}) are not supported")
    outpost = policy_iam.arn_to_resource(text, where) if policy_iam.is_arn(text) else text
    if outpost == "*":
        return ResourcePattern(outpost, text, None)
    kind, slash, name = outpost.partition("/")
    types = ", ".join(t.value for t in ResourceType)
    if not slash or not name:
        raise InputError(where, f"{shown(text)} is not TYPE/NAME or * (types: {types})")
    try:
        return ResourcePattern(outpost, text, ResourceType(kind))
    except ValueError:
        hint = did_you_mean(kind, tuple((t.value, t) for t in ResourceType))
        raise InputError(where, f"unknown resource type {shown(kind)} ({hint}types: {types}; written out)") from None


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for op_text, block in as_mapping(value, where, None, "a mapping of condition operators").items():
        at = place(where, op_text)
        operator, if_exists = _operator(op_text, at)
        keys = as_mapping(block, at, None, "a mapping of condition keys to values")
        if not keys:
            raise InputError(at, "names no condition key")
        for key_text, values in keys.items():
            key_at = place(at, key_text)
            key = _condition_key(key_text, key_at)
            if operator.on_addresses and key.kind is not KeyKind.SOURCE_IP:
                raise InputError(key_at, f"{operator.value} compares addresses; only request:source_ip holds one")
            if key.kind is KeyKind.SOURCE_IP and not operator.on_addresses:
                raise InputError(key_at, f"request:source_ip is compared by IpAddress or NotIpAddress, not {op_text}")
            items = as_strings(values, key_at)
            for item_at, item in items:
                if "${" in item:
                    raise InputError(item_at, f"{shown(item)}: policy variables (${{...}}) are not supported")
            networks = tuple(_network(item, item_at) for item_at, item in items) if operator.on_addresses else ()
            out.append(Condition(operator, if_exists, key, tuple(item for _, item in items), networks))
    return tuple(out)


def _operator(text: str, where: str) -> tuple[ConditionOperator, bool]:
    if ":" in text:
        raise InputError(where, f"set operators ({shown(text.partition(':')[0] + ':')}) are not supported: each of "
                         "Outpost's condition keys holds one value")
    name = text.removesuffix("IfExists")
    try:
        return ConditionOperator(name), name != text
    except ValueError:
        known = ", ".join(op.value for op in ConditionOperator)
        hint = did_you_mean(name, tuple((op.value, op) for op in ConditionOperator))
        raise InputError(where, f"unknown condition operator {shown(text)} ({hint}known: {known}; each also "
                         "...IfExists)") from None


def _condition_key(text: str, where: str) -> ConditionKey:
    key = policy_iam.iam_condition_key(text, where) or text
    prefix = KeyKind.NODE_TAG.value
    if key.lower().startswith(prefix) and len(key) > len(prefix):
        return ConditionKey(KeyKind.NODE_TAG, key[len(prefix):])
    for kind in KeyKind:
        if key.lower() == kind.value and kind is not KeyKind.NODE_TAG:
            return ConditionKey(kind)
    raise InputError(where, f"unknown condition key {shown(text)} (keys: {_KEYS_HELP}; from IAM: "
                     f"{policy_iam.iam_key_names()})")


def _network(text: str, where: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InputError(where, f"{shown(text)} is not an IP address or CIDR block "
                         "(e.g. 203.0.113.0/24, 2001:db8::/32)") from None


def _version(value: object) -> PolicyVersion:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = value.isoformat()  # YAML reads an unquoted 2012-10-17 as a date
    try:
        return PolicyVersion(value)
    except ValueError:
        raise InputError("Version", f"must be '2012-10-17' or '2008-10-17', got {shown(value)}") from None


ADMINISTRATOR_ACCESS = parse_policy('{"Version": "2012-10-17", "Statement": '
                                    '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
"""The built-in policy that allows everything, named :data:`ADMINISTRATOR_ACCESS_NAME` as AWS's."""
