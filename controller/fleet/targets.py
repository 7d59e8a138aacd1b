"""SSM's ``--targets`` shorthand, as the AWS CLI takes it::

    --targets Key=tag:Role,Values=web,api
    --targets Key=InstanceIds,Values=mi-1,mi-2      (Values=* : every registered node)
    --targets Key=resource-groups:Name,Values=GROUP

Within one item the values are ORed; the keys of several items are ANDed. Like the AWS CLI's
shorthand, the fields may come in either order and a comma-separated token that does not start a
field (``Key=`` or ``Values=``) is one more value. SSM's limits apply: at most 5 tag keys, 50 values
per key, 50 node ids and one group.
"""
from __future__ import annotations

from collections.abc import Sequence

from controller.model import TagFilter, Targets
from controller.shorthand import targets_of
from plugins.sdk.errors import InputError
from plugins.sdk.wire.document import has_lone_surrogate

MAX_TAG_KEYS = 5
MAX_VALUES = 50
MAX_NODE_IDS = 50
MAX_TAG_KEY_LEN = 128
MAX_TAG_VALUE_LEN = 256

KEY_NODE_IDS = "InstanceIds"
KEY_GROUP = "resource-groups:Name"
TAG_PREFIX = "tag:"
ALL = "*"

_UNSUPPORTED = {
    "tag-key": "targeting by tag key alone is not supported; use Key=tag:NAME,Values=...",
    "resource-groups:ResourceTypeFilters": "resource type filters do not apply to Outpost nodes",
}


def _key(given: str) -> str:
    """A target key as SSM names it, whatever its case (AWS examples write ``instanceids``)."""
    folded = given.strip().casefold()
    if folded in _KEYS:
        return _KEYS[folded]
    if folded.startswith(TAG_PREFIX):
        return TAG_PREFIX + given.strip()[len(TAG_PREFIX):]  # a tag's own key keeps its case
    return given.strip()


_KEYS = {KEY_NODE_IDS.casefold(): KEY_NODE_IDS, KEY_GROUP.casefold(): KEY_GROUP}


def parse_targets(items: Sequence[str], where: str = "--targets") -> Targets:
    """Parse the ``--targets`` options (the AWS CLI's shorthand or JSON: controller/shorthand.py);
    InputError naming the bad item."""
    for item in items:
        if has_lone_surrogate(item):  # argv bytes that are not UTF-8, as Python reads them
            raise InputError(where, f"{item!r} is not UTF-8 text")
    return targets_from_pairs(targets_of(tuple(items), where), where)


def targets_from_pairs(pairs: Sequence[tuple[str, Sequence[str]]], where: str = "--targets") -> Targets:
    """(Key, Values) pairs as SSM's Targets: its keys and limits checked."""
    node_ids: tuple[str, ...] | None = None
    tags: dict[str, tuple[str, ...]] = {}
    group: str | None = None
    every = False
    for given_key, given_values in pairs:
        values = tuple(dict.fromkeys(v.strip() for v in given_values))  # duplicates dropped, order kept
        key = _key(given_key)
        item = f"Key={given_key},Values={','.join(given_values)}"
        if not values or any(not v for v in values):
            raise InputError(where, f"empty value in {item!r}")
        if len(values) > MAX_VALUES:
            raise InputError(where, f"at most {MAX_VALUES} values per key, {key} has {len(values)} in {item!r}")
        if key == KEY_NODE_IDS:
            if node_ids is not None or every:
                raise InputError(where, f"{KEY_NODE_IDS} is given twice; put all the ids in one item ({item!r})")
            if ALL in values:
                if len(values) > 1:
                    raise InputError(where, f"Values=* means every node and takes no other ids, got {item!r}")
                every = True
            else:
                if len(values) > MAX_NODE_IDS:
                    raise InputError(where, f"at most {MAX_NODE_IDS} node ids, got {len(values)} in {item!r}")
                node_ids = values
        elif key == KEY_GROUP:
            if group is not None:
                raise InputError(where, f"only one {KEY_GROUP} target is allowed, got another in {item!r}")
            if len(values) != 1:
                raise InputError(where, f"{KEY_GROUP} takes exactly one group name, got {len(values)} in {item!r}")
            group = values[0]
        elif key.startswith(TAG_PREFIX):
            tag_key = key[len(TAG_PREFIX):]
            if not tag_key.strip():
                raise InputError(where, f"tag name missing after tag: in {item!r}")
            if len(tag_key) > MAX_TAG_KEY_LEN:
                raise InputError(where, f"tag key longer than {MAX_TAG_KEY_LEN} characters in {item!r}")
            if tag_key in tags:
                raise InputError(where, f"tag:{tag_key} is given twice; put all its values in one item ({item!r})")
            long = [v for v in values if len(v) > MAX_TAG_VALUE_LEN]
            if long:
                raise InputError(where, f"tag value longer than {MAX_TAG_VALUE_LEN} characters in {item!r}")
            tags[tag_key] = values
            if len(tags) > MAX_TAG_KEYS:
                raise InputError(where, f"at most {MAX_TAG_KEYS} tag keys, {item!r} is the "
                                        f"{len(tags)}th")
        elif key in _UNSUPPORTED:
            raise InputError(where, f"{_UNSUPPORTED[key]} ({item!r})")
        else:
            raise InputError(where, f"unknown key {key!r} in {item!r}: use tag:NAME, {KEY_NODE_IDS} or {KEY_GROUP}")
    if every and (node_ids is not None or tags or group is not None):
        raise InputError(where, "Key=InstanceIds,Values=* (every node) cannot be combined with other targets")
    return Targets(node_ids=node_ids or (), tags=tuple(TagFilter(k, v) for k, v in tags.items()),
                         group=group or "", all=every)
