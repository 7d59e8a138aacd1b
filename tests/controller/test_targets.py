"""controller.fleet.targets: SSM's --targets shorthand, good and bad."""
from __future__ import annotations

import re

import pytest

from controller.fleet.targets import parse_targets
from controller.model import TagFilter
from controller.model import Targets as ParsedTargets
from plugins.sdk.errors import InputError

IDS_50 = ",".join(f"mi-{i}" for i in range(50))
IDS_51 = ",".join(f"mi-{i}" for i in range(51))
VALUES_50 = ",".join(f"v{i}" for i in range(50))
VALUES_51 = ",".join(f"v{i}" for i in range(51))

GOOD: list[tuple[list[str], ParsedTargets]] = [
    ([], ParsedTargets()),
    (["Key=tag:Role,Values=web"], ParsedTargets(tags=(TagFilter("Role", ("web",)),))),
    (["Key=tag:Role,Values=web,api"], ParsedTargets(tags=(TagFilter("Role", ("web", "api")),))),
    (["Values=web,api,Key=tag:Role"], ParsedTargets(tags=(TagFilter("Role", ("web", "api")),))),
    ([" Key=tag:Role , Values= web , api "], ParsedTargets(tags=(TagFilter("Role", ("web", "api")),))),
    (["Key=tag:Role,Values=web,web,api"], ParsedTargets(tags=(TagFilter("Role", ("web", "api")),))),
    (["Key=tag:Role,Values=web", "Key=tag:env,Values=prod,staging"],
     ParsedTargets(tags=(TagFilter("Role", ("web",)), TagFilter("env", ("prod", "staging"))))),
    (["Key=tag:aws:cloudformation:stack-name,Values=a=b"],
     ParsedTargets(tags=(TagFilter("aws:cloudformation:stack-name", ("a=b",)),))),
    (["Key=InstanceIds,Values=mi-1,mi-2"], ParsedTargets(node_ids=("mi-1", "mi-2"))),
    # as AWS examples write them: any case of the fields and of SSM's own keys (a tag's key keeps its case)
    (["key=tag:Role,values=web"], ParsedTargets(tags=(TagFilter("Role", ("web",)),))),
    (["Key=instanceids,Values=mi-1"], ParsedTargets(node_ids=("mi-1",))),
    (["Key=RESOURCE-GROUPS:NAME,Values=g"], ParsedTargets(group="g")),
    # the AWS CLI's JSON, one list of targets, and quoted or bracketed values
    (['[{"Key":"tag:Role","Values":["web","api"]},{"Key":"InstanceIds","Values":["mi-1"]}]'],
     ParsedTargets(node_ids=("mi-1",), tags=(TagFilter("Role", ("web", "api")),))),
    (['Key=tag:Name,Values="a,b"'], ParsedTargets(tags=(TagFilter("Name", ("a,b",)),))),
    (["Key=tag:Role,Values=[web,api]"], ParsedTargets(tags=(TagFilter("Role", ("web", "api")),))),
    ([f"Key=InstanceIds,Values={IDS_50}"], ParsedTargets(node_ids=tuple(IDS_50.split(",")))),
    (["Key=InstanceIds,Values=*"], ParsedTargets(all=True)),
    (["Key=resource-groups:Name,Values=web-servers"], ParsedTargets(group="web-servers")),
    (["Key=resource-groups:Name,Values=g", "Key=tag:Role,Values=web", "Key=InstanceIds,Values=mi-1"],
     ParsedTargets(node_ids=("mi-1",), tags=(TagFilter("Role", ("web",)),), group="g")),
    ([f"Key=tag:k{i},Values=v" for i in range(5)],
     ParsedTargets(tags=tuple(TagFilter(f"k{i}", ("v",)) for i in range(5)))),
    ([f"Key=tag:Role,Values={VALUES_50}"], ParsedTargets(tags=(TagFilter("Role", tuple(VALUES_50.split(","))),))),
]

BAD: list[tuple[list[str], str]] = [
    (["tag:Role=web"], "expected Key=KEY,Values="),
    (["Key=tag:Role"], "Values= is missing in 'Key=tag:Role'"),
    (["Values=web"], "Key= is missing or empty in 'Values=web'"),
    (["Key=,Values=web"], "Key= is missing or empty"),
    (["Key=tag:Role,Values="], "empty value in 'Key=tag:Role,Values='"),
    (["Key=tag:Role,Values=web,,api"], "empty value"),
    (["Key=tag:Role,extra,Values=web"], "Key takes one value: 'extra'"),
    (["Key=tag:Role,Key=tag:env,Values=web"], "Key= is given twice"),
    (["Key=tag:Role,Values=a,Values=b"], "Values= is given twice"),
    (["Key=tag:,Values=web"], "tag name missing after tag:"),
    ([f"Key=tag:{'k' * 129},Values=v"], "tag key longer than 128"),
    ([f"Key=tag:k,Values={'v' * 257}"], "tag value longer than 256"),
    (["Key=tag:Role,Values=web", "Key=tag:Role,Values=api"], "tag:Role is given twice"),
    ([f"Key=tag:k{i},Values=v" for i in range(6)], "at most 5 tag keys, 'Key=tag:k5,Values=v'"),
    ([f"Key=tag:Role,Values={VALUES_51}"], "at most 50 values per key, tag:Role has 51"),
    ([f"Key=InstanceIds,Values={IDS_51}"], "at most 50 values per key, InstanceIds has 51"),
    (["Key=InstanceIds,Values=mi-1", "Key=InstanceIds,Values=mi-2"], "InstanceIds is given twice"),
    (["Key=InstanceIds,Values=*,mi-1"], "Values=\\* means every node"),
    (["Key=InstanceIds,Values=*", "Key=tag:Role,Values=web"], "cannot be combined"),
    (["Key=InstanceIds,Values=*", "Key=InstanceIds,Values=mi-1"], "InstanceIds is given twice"),
    (["Key=resource-groups:Name,Values=a,b"], "takes exactly one group name, got 2"),
    (["Key=resource-groups:Name,Values=a", "Key=resource-groups:Name,Values=b"],
     "only one resource-groups:Name target"),
    (["Key=tag-key,Values=Role"], "tag key alone is not supported"),
    (["Key=resource-groups:ResourceTypeFilters,Values=AWS::EC2::Instance"], "resource type filters"),
    (["Key=Role,Values=web"], "unknown key 'Role' in 'Key=Role,Values=web'"),
    (['[{"Key": "tag:Role", "Values": "web"}]'], "expected a list of strings"),
    (['[{"Key": "tag:Role", "Values": ["web"], "Extra": 1}]'], re.escape('expected {"Key": KEY, "Values": [V1, ...]}')),
    (["[not json"], "not valid JSON"),
    (['Key=tag:Role,Values="web'], "a quote is not closed"),
]


@pytest.mark.parametrize(("items", "expected"), GOOD, ids=[" ".join(i)[:60] or "none" for i, _ in GOOD])
def test_good(items: list[str], expected: ParsedTargets) -> None:
    assert parse_targets(items) == expected


@pytest.mark.parametrize(("items", "message"), BAD, ids=[" ".join(i)[:60] for i, _ in BAD])
def test_bad(items: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_targets(items)
    assert info.value.where.startswith("--targets")  # JSON errors name the item: --targets[0].Values


def test_empty_and_where() -> None:
    assert parse_targets([]).empty
    assert not parse_targets(["Key=InstanceIds,Values=*"]).empty
    with pytest.raises(InputError, match=r"^targets\[0\]: "):
        parse_targets(["nope"], where="targets[0]")


def test_text_that_is_not_utf8() -> None:
    """Found by tests/fuzz: argv bytes that are not UTF-8 (lone surrogates in Python) went through to
    the request, whose encoding failed with a traceback."""
    with pytest.raises(InputError, match=r"^--targets: 'Key=tag:Role,Values=caf\\udce9' is not UTF-8 text$"):
        parse_targets(["Key=tag:Role,Values=caf\udce9"])
