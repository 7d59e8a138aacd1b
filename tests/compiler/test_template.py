"""controller/compiler/template.py: Jinja2, sandboxed, with Ansible's filters, tests and semantics.

Data-driven: a template and the shared VARS in, a value out (VALUES); a template in, the exact
one-line message out (ERRORS); conditions (CONDITIONS); the classic sandbox escapes and the
bounds that keep every render finite.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from controller.compiler import PlaybookError, TemplateError, compile_text
from controller.compiler.jinja_filters import ANSIBLE_FILTERS
from controller.compiler.jinja_sandbox import MAX_CALLS, MAX_ITERATIONS, MAX_OUTPUT, Environment
from controller.compiler.jinja_tests import ANSIBLE_TESTS
from controller.compiler.template import Templar, is_template
from plugins.sdk.host.registry import PluginRegistry
from tests.compiler.test_compiler import FakeShell, FakeWait

VARS: dict[str, Any] = {
    "env": "prod", "who": "it's me", "n": 5, "ratio": 0.5, "on": True, "off": False, "nothing": None,
    "cmds": ["a", "b c"], "nums": [3, 1, 2, 3], "nested": [[1, [2]], None, [3]],
    "user": {"name": "ann", "groups": ["wheel", "adm"]}, "greeting": "hello {{ who }}",
    "alias": "{{ cmds }}", "deep": "{{ greeting | upper }}!", "empty": "",
    "ok": {"rc": 0, "changed": True, "failed": False, "skipped": False},
    "bad": {"rc": 2, "changed": False, "failed": True},
    "loop_result": {"results": [{"changed": False}, {"changed": True}]},
    "users": [{"name": "ann", "admin": True}, {"name": "bob", "admin": False}],
    "json": '{"a": [1, 2]}', "path": "/etc/app/app.conf", "broken": "{{ missing }}",
}

VALUES: list[tuple[str, object]] = [
    # a lone expression keeps its type; anything else is a string
    ("plain text", "plain text"),
    ("{{ n }}", 5), ("{{ n }} ", "5 "), ("{{ ratio }}", 0.5), ("{{ on }}", True), ("{{ nothing }}", None),
    ("{{ cmds }}", ["a", "b c"]), ("{{ user }}", VARS["user"]), ("{{ alias }}", ["a", "b c"]),
    ("say {{ who }}", "say it's me"), ("{{ n }}/{{ on }}/{{ ratio }}", "5/True/0.5"),
    ("{{ greeting }}!", "hello it's me!"), ("{{ deep }}", "HELLO IT'S ME!"),
    ("{{ user.name }} {{ user['groups'][0] }}", "ann wheel"), ("{{ n + 1 }}", 6), ("{{ n * 2 > 9 }}", True),
    ("{{ '{{' }}.Names{{ '}}' }}", "{{.Names}}"), ("{% raw %}{{ x }}{% endraw %}", "{{ x }}"),
    ("{{ cmds | map('upper') }}", ["A", "B C"]), ("{{ (1, 2) }}", [1, 2]), ("{{ range(3) }}", [0, 1, 2]),
    ("{% for c in cmds %}[{{ c }}]{% endfor %}", "[a][b c]"), ("{% if on %}\nyes\n{% endif %}\n", "yes\n"),
    ("line\n", "line\n"), ("{{ n }}\n", "5\n"),  # keep_trailing_newline
    # default / mandatory / bool / casts / strings
    ("{{ missing | default('x') }}", "x"), ("{{ missing | d('x') }}", "x"), ("{{ empty | default('x') }}", ""),
    ("{{ empty | default('x', true) }}", "x"), ("{{ missing.attr | default('chained') }}", "chained"),
    ("{{ n | mandatory }}", 5), ("{{ 'yes' | bool }}", True), ("{{ 'off' | bool }}", False), ("{{ 1 | bool }}", True),
    ("{{ nothing | bool }}", None), ("{{ '42' | int + 1 }}", 43), ("{{ '1.5' | float }}", 1.5),
    ("{{ n | string }}", "5"), ("{{ 'AbC' | lower }}{{ 'x' | upper }}", "abcX"), ("{{ 'abc' | capitalize }}", "Abc"),
    ("{{ '  t  ' | trim }}", "t"), ("{{ 'a-b' | replace('-', '+') }}", "a+b"), ("{{ cmds | join(',') }}", "a,b c"),
    ("{{ 'a,b,,c' | split(',') }}", ["a", "b", "", "c"]), ("{{ 'a b  c' | split }}", ["a", "b", "c"]),
    ("{{ 'a,b,c' | split(',', 1) }}", ["a", "b,c"]),
    # lists
    ("{{ nums | length }}/{{ nums | count }}", "4/4"), ("{{ nums | first }}{{ nums | last }}", "33"),
    ("{{ nums | min }}{{ nums | max }}", "13"), ("{{ nums | sort }}", [1, 2, 3, 3]), ("{{ nums | unique }}", [3, 1, 2]),
    ("{{ [1, 2] | union([2, 3]) }}", [1, 2, 3]), ("{{ [1, 2, 2] | intersect([2, 3]) }}", [2]),
    ("{{ [1, 2, 2, 4] | difference([2, 3]) }}", [1, 4]), ("{{ [1, 2] | symmetric_difference([2, 3]) }}", [1, 3]),
    ("{{ nested | flatten }}", [1, 2, 3]), ("{{ nested | flatten(levels=1) }}", [1, [2], 3]),
    ("{{ [1, 2] | zip(['a', 'b']) }}", [[1, "a"], [2, "b"]]),
    ("{{ users | selectattr('admin') | map(attribute='name') }}", ["ann"]),
    ("{{ users | rejectattr('admin') | map(attribute='name') | list }}", ["bob"]),
    ("{{ nums | select('odd') }}", [3, 1, 3]), ("{{ nums | reject('odd') }}", [2]),
    # mappings
    ("{{ {'a': 1} | dict2items }}", [{"key": "a", "value": 1}]),
    ("{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}", [{"k": "a", "v": 1}]),
    ("{{ [{'key': 'a', 'value': 1}] | items2dict }}", {"a": 1}),
    ("{{ {'a': {'x': 1}, 'l': [1]} | combine({'a': {'y': 2}, 'l': [2]}) }}", {"a": {"y": 2}, "l": [2]}),
    ("{{ {'a': {'x': 1}} | combine({'a': {'y': 2}}, recursive=True) }}", {"a": {"x": 1, "y": 2}}),
    ("{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append_rp') }}", {"l": [1, 2, 3]}),
    ("{{ {'a': 1} | combine({'b': 2}, {'a': 3}) }}", {"a": 3, "b": 2}),
    # serialisation
    ("{{ user | to_json }}", '{"name": "ann", "groups": ["wheel", "adm"]}'),
    ("{{ {'b': 1, 'a': [1]} | to_nice_json(indent=2) }}", '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'),
    ("{{ json | from_json }}", {"a": [1, 2]}), ("{{ 'a: [1, 2]' | from_yaml }}", {"a": [1, 2]}),
    ("{{ {'a': [1]} | to_yaml }}", "a: [1]\n"), ("{{ {'a': [1]} | to_nice_yaml }}", "a:\n- 1\n"),
    # regular expressions
    ("{{ 'hello world' | regex_replace('o', '0') }}", "hell0 w0rld"),
    ("{{ 'ab12' | regex_replace('^(?P<l>[a-z]+)(\\\\d+)$', '\\\\2\\\\g<l>') }}", "12ab"),
    ("{{ 'Hello' | regex_replace('h', 'j', ignorecase=True) }}", "jello"),
    ("{{ 'v1.2' | regex_search('\\\\d+\\\\.\\\\d+') }}", "1.2"), ("{{ 'none' | regex_search('\\\\d') }}", None),
    ("{{ 'k=v' | regex_search('(\\\\w)=(\\\\w)', '\\\\2', '\\\\1') }}", ["v", "k"]),
    ("{{ 'a1b22' | regex_findall('\\\\d+') }}", ["1", "22"]), ("{{ 'a.b*' | regex_escape }}", "a\\.b\\*"),
    # shell, paths, encodings, hashes, the rest
    ("echo {{ who | quote }}", "echo 'it'\"'\"'s me'"), ("rm {{ cmds | quote }}", "rm a 'b c'"),
    ("{{ path | basename }}:{{ path | dirname }}", "app.conf:/etc/app"),
    ("{{ path | splitext }}", ["/etc/app/app", ".conf"]),
    ("{{ 'hi' | b64encode }}", "aGk="), ("{{ 'aGk=' | b64decode }}", "hi"),
    ("{{ 'hi' | hash('sha256') }}", "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"),
    ("{{ 'hi' | hash('md5') }}", "49f68a5c8493ec2c0bf489821c21fc3b"),
    ("{{ 'hi' | hash }}", "c22b5f9178342609428d6f51b2c5af4c0bde6a42"),
    ("{{ on | ternary('y', 'n') }}{{ off | ternary('y', 'n') }}{{ nothing | ternary('y', 'n', 'z') }}", "ynz"),
    ("{{ n | type_debug }} {{ cmds | type_debug }}", "int list"),
    ("{{ cmds | ansible.builtin.join('+') }} {{ 'X' | ansible.builtin.lower }}", "a+b c x"),
    # tests
    ("{{ missing is defined }}{{ missing is undefined }}{{ nothing is none }}", "FalseTrueTrue"),
    ("{{ who is string }}{{ n is number }}{{ user is mapping }}{{ cmds is sequence }}{{ cmds is iterable }}",
     "TrueTrueTrueTrueTrue"),
    ("{{ on is boolean }}{{ 'x' is truthy }}{{ '' is falsy }}{{ 'no' is truthy(convert_bool=True) }}",
     "TrueTrueTrueFalse"),
    ("{{ 'abc' is match('a') }}{{ 'abc' is match('b') }}{{ 'abc' is search('b') }}{{ 'abc' is regex('^a.c$') }}",
     "TrueFalseTrueTrue"),
    ("{{ '1.10' is version('1.9', '>') }}{{ '1.10' is version_compare('1.9', 'lt') }}", "TrueFalse"),
    ("{{ '2.0' is version('2.0b1', '>', strict=True) }}"
     "{{ '1.0.0-rc.1' is version('1.0.0', '<', version_type='semver') }}", "TrueTrue"),
    ("{{ [1] is subset([1, 2]) }}{{ [1, 2] is superset([2]) }}{{ cmds is contains('a') }}{{ 'a' in cmds }}",
     "TrueTrueTrueTrue"),
    ("{{ ok is succeeded }}{{ ok is success }}{{ ok is failed }}{{ bad is failure }}", "TrueTrueFalseTrue"),
    ("{{ ok is changed }}{{ bad is change }}{{ ok is skipped }}{{ {'skipped': True} is skip }}", "TrueFalseFalseTrue"),
    ("{{ loop_result is changed }}{{ path is abs }}{{ 'rel/x' is abs }}", "TrueTrueFalse"),
    ("{{ ok is ansible.builtin.succeeded }}{{ n is ansible.builtin.number }}", "TrueTrue"),
]


@pytest.mark.parametrize(("template", "expected"), VALUES, ids=[t for t, _ in VALUES])
def test_render(template: str, expected: object) -> None:
    assert Templar(VARS).render(template) == expected


ERRORS: list[tuple[str, str]] = [
    ("{{ cmdz }}", "'cmdz' is undefined in '{{ cmdz }}'; did you mean 'cmds'?"),
    ("run {{ nope }}", "'nope' is undefined in 'run {{ nope }}'"),
    ("{{ broken }}", "'missing' is undefined in '{{ missing }}' (in variable 'broken')"),
    ("{{ user.nope }}", "'dict object' has no attribute 'nope' in '{{ user.nope }}'"),
    ("{{ x | to_yamll }}", "no filter named 'to_yamll' in '{{ x | to_yamll }}'; did you mean 'to_yaml'?"),
    ("{{ n is evn }}", "no test named 'evn' in '{{ n is evn }}'; did you mean 'even'?"),
    ("{{ 1 + }}", "template syntax error: unexpected 'end of print statement' in '{{ 1 + }}'"),
    ("echo {{ who", "template syntax error: unexpected end of template, expected 'end of print statement' "
                    "in 'echo {{ who'"),
    ("{% if on %}x", "template syntax error: Unexpected end of template. Jinja was looking for the following tags: "
                     "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if' "
                     "in '{% if on %}x'"),
    ("echo ${#cmds[@]}", "template syntax error: Missing end of comment tag (a literal '{#' is written "
                         "{{ '{#' }} or inside {% raw %}...{% endraw %}) in 'echo ${#cmds[@]}'"),
    ("awk '{% x }'", "template syntax error: Encountered unknown tag 'x' (a literal '{%' is written {{ '{%' }} or "
                     "inside {% raw %}...{% endraw %}) in \"awk '{% x }'\""),
    ("{{ cmds | first | attr('upper') }}", "the template gave 'builtin_function_or_method', which is not data (a "
                                           "string, number, boolean, null, list or mapping)"),
    ("{{ namespace(a=1) }}", "the template gave 'Namespace', which is not data (a string, number, boolean, null, "
                             "list or mapping)"),
    ("install {{ cmds }}", "a list (['a', 'b c']) inside a longer string in 'install {{ cmds }}': use it as the "
                           "whole value, or make it text with | join(' '), | quote or | to_json"),
    ("{{ missing | mandatory }}", "mandatory variable 'missing' not defined"),
    ("{{ 'x' | from_json }}", "from_json: not JSON: Expecting value: line 1 column 1 (char 0)"),
    ("{{ 'x' | hash('crc') }}", "hash: unknown hash type 'crc' (known: sha256, sha1, md5, sha512, sha384, sha224)"),
    ("{{ 'x' | regex_replace('(') }}", "bad regular expression '(': missing ), unterminated subpattern at position 0"),
    ("{{ n is version('1', 'about') }}", "version: unknown operator 'about' (known: ==, =, eq, <, lt, <=, le, >, gt, "
                                          ">=, ge, !=, <>, ne)"),
    ("{{ '1.0' is version('1.a', strict=True) }}", "version: '1.a' is not a strict version (N.N[.N][aN|bN])"),
    ("{{ cmds is failed }}", "the 'failed' test expects a registered result (a mapping), got list"),
    ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero in '{{ 1 / 0 }}'"),
    ("{{ user | combine(cmds) }}", "combine expects mappings, got str"),
    # refused by name, with why
    ("{{ cmds | random }}", "the filter 'random' is not supported in '{{ cmds | random }}': nondeterministic, and "
                            "a playbook is compiled once, on the controller"),
    ("{{ cmds | shuffle }}", "the filter 'shuffle' is not supported in '{{ cmds | shuffle }}': nondeterministic, "
                             "and a playbook is compiled once, on the controller"),
    ("{{ who | password_hash('sha512') }}", "the filter 'password_hash' is not supported in \"{{ who | "
     "password_hash('sha512') }}\": it needs a salt source and crypt backends Outpost does not carry; hash the "
     "password before it goes into the playbook"),
    ("{{ who | ipaddr }}", "the filter 'ipaddr' is not supported in '{{ who | ipaddr }}': the ansible.utils "
                           "collection (netaddr) is not part of Outpost"),
    ("{{ who | ansible.utils.ipv4 }}", "the filter 'ansible.utils.ipv4' is not supported in '{{ who | "
                                      "ansible.utils.ipv4 }}': the ansible.utils collection is not part of Outpost"),
    ("{{ path is exists }}", "the test 'exists' is not supported in '{{ path is exists }}': it would test the "
                             "controller's files, not the node's (Ansible evaluates tests on the controller); check "
                             "on the node with a task (stat, or shell: test -e)"),
    ("{{ path is ansible.builtin.directory }}", "the test 'ansible.builtin.directory' is not supported in '{{ path "
     "is ansible.builtin.directory }}': it would test the controller's files, not the node's (Ansible evaluates "
     "tests on the controller); check on the node with a task (stat, or shell: test -e)"),
    ("{{ lookup('env', 'HOME') }}", "lookup() is not supported in \"{{ lookup('env', 'HOME') }}\": it would read the "
                                    "controller's environment or disk, not the node's"),
    ("{{ query('file', 'x') }}", "query() is not supported in \"{{ query('file', 'x') }}\": it would read the "
                                 "controller's environment or disk, not the node's"),
    ("{{ lipsum() }}", "lipsum() is not supported in '{{ lipsum() }}': it is random text: nondeterministic, and a "
                       "playbook is compiled once"),
    ("{% include 'x.j2' %}", "{% include %} is not supported in \"{% include 'x.j2' %}\": a playbook's strings are "
                             "templates on their own, with no files to load"),
    ("{% import 'm.j2' as m %}", "{% import %} is not supported in \"{% import 'm.j2' as m %}\": a playbook's "
                                 "strings are templates on their own, with no files to load"),
    ("{% extends 'base' %}", "{% extends %} is not supported in \"{% extends 'base' %}\": a playbook's strings are "
                             "templates on their own, with no files to load"),
]


@pytest.mark.parametrize(("template", "message"), ERRORS, ids=[t for t, _ in ERRORS])
def test_render_error(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render(template)
    assert str(info.value) == message
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_a_variable_cycle_names_the_chain() -> None:
    templar = Templar({"a": "{{ b }}", "b": "x {{ c }}", "c": ["{{ a }}"]})
    with pytest.raises(TemplateError, match=r"^variable 'a' refers to itself \(a -> b -> c -> a\)$"):
        templar.render("{{ a }}")


def test_variables_are_evaluated_when_used() -> None:
    templar = Templar({"fine": "ok", "broken": "{{ missing }}", "loop": "{{ loop }}"})
    assert templar.render("{{ fine }}") == "ok"  # the broken ones are never read
    assert templar.render("{{ broken | default('d') }}") == "d"  # undefined inside is undefined, as Ansible's
    with pytest.raises(TemplateError, match=r"'missing' is undefined .*\(in variable 'broken'\)"):
        templar.render("{{ broken }}")


def test_child_values_are_data_never_templates() -> None:
    templar = Templar({"who": "ann", "greeting": "hi {{ who }}"})
    child = templar.child({"item": "{{ who }}", "result": {"stdout": "{{ not a template }}", "rc": 0}, "who": "bob"})
    assert child.render("{{ item }}") == "{{ who }}"  # a node's output is never evaluated
    assert child.render("{{ result.stdout }}|{{ result is succeeded }}") == "{{ not a template }}|True"
    assert child.render("{{ greeting }}") == "hi bob"  # the child's who wins
    assert templar.render("{{ greeting }}") == "hi ann"  # the parent is unchanged


def test_render_is_recursive_over_containers_and_keys() -> None:
    value = {"{{ who }}": ["{{ n }}", ("x{{ n }}",), {"k": 1}], "plain": True, 3: None}
    assert Templar(VARS).render(value) == {"it's me": [5, ["x5"], {"k": 1}], "plain": True, 3: None}


def test_a_mapping_key_must_render_to_a_scalar() -> None:
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render({"{{ cmds }}": 1})
    assert str(info.value) == ("the mapping key '{{ cmds }}' renders to list ['a', 'b c']; a key must be a string, "
                               "number or boolean")


def test_is_template() -> None:
    assert is_template("a {{ b }}") and is_template("{% if x %}{% endif %}") and is_template("{# c #}")
    assert is_template(["x", {"k": "{{ v }}"}]) and is_template({"{{ k }}": 1})
    assert not is_template("a { b } %") and not is_template(3) and not is_template(["x", {"k": "v"}])


CONDITIONS: list[tuple[object, bool]] = [
    (True, True), (False, False), ("n > 3", True), ("env == 'dev'", False), ("missing is defined", False),
    ("cmds | length == 2 and on", True), ("'a' in cmds", True), (["n > 1", "env == 'prod'"], True),
    (["n > 1", "off"], False), ([], True), ("ok is changed", True), ("bad is failed", True),
    ("'False'", False), ("'no'", False), ("'0'", False), ("'yes'", True), ("n", True), ("0", False),
    ("nothing", False), ("user.name == 'ann'", True), ("'1.10' is version('1.9', '>=')", True),
]


@pytest.mark.parametrize(("expr", "expected"), CONDITIONS, ids=[repr(c) for c, _ in CONDITIONS])
def test_condition(expr: Any, expected: bool) -> None:
    assert Templar(VARS).condition(expr) is expected


CONDITION_ERRORS: list[tuple[object, str]] = [
    ("{{ n > 3 }}", "a condition is a bare expression, without {{ }} or {% %}: write 'n > 3', not '{{ n > 3 }}'"),
    ("", "a condition must not be empty"),
    ("n >", "template syntax error: unexpected 'end of template' in 'n >'"),
    ("n > 1 x", "template syntax error: unexpected 'x' after the expression in 'n > 1 x'"),
    ("nope", "'nope' is undefined in 'nope'"),
    ("cmds", "the condition 'cmds' gave ['a', 'b c'], which is not a boolean; compare or test it (x == 'yes', "
             "x | length > 0, x is defined) or convert it (x | bool)"),
    ("who", "the condition 'who' gave \"it's me\", which is not a boolean; compare or test it (x == 'yes', "
            "x | length > 0, x is defined) or convert it (x | bool)"),
    (3, "a condition is an expression, a list of them or a boolean, not int"),
    ("lookup('pipe', 'id')", "lookup() is not supported in \"lookup('pipe', 'id')\": it would read the controller's "
                             "environment or disk, not the node's"),
]


@pytest.mark.parametrize(("expr", "message"), CONDITION_ERRORS, ids=[repr(c) for c, _ in CONDITION_ERRORS])
def test_condition_error(expr: Any, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Templar(VARS).condition(expr)
    assert str(info.value) == message


# -- the sandbox -----------------------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}", "{{ self._TemplateReference__context }}",
    "{{ cmds.append('x') }}", "{{ user.update({'name': 'eve'}) }}", "{{ namespace.__init__.__globals__.os }}",
    "{{ (1).__class__.__base__.__subclasses__() }}", "{{ joiner.__init__.__globals__ }}",
    "{{ user.__class__ }}", "{{ range.__self__ }}", "{{ ''.format.__self__ }}",
    "{{ cmds | map(attribute='__class__') | list }}", "{{ user | attr('__class__') }}",
    "{{ [user] | selectattr('__class__') | list }}", "{{ [user] | map(attribute='__class__.__mro__') | first }}",
])
def test_sandbox_escapes_are_refused(template: str) -> None:
    with pytest.raises(TemplateError, match=r"is unsafe|has no attribute|is undefined") as info:
        Templar(VARS).render(template)
    assert "\n" not in str(info.value)
    assert VARS["cmds"] == ["a", "b c"] and VARS["user"]["name"] == "ann"


BOUNDS: list[tuple[str, str]] = [
    ("{{ 'x' * 10**9 }}", "'*' on a str would be 1,000,000,000 characters long"),
    ("{{ [1, 2] * 10**8 }}", "'*' on a list would be"),
    ("{{ range(10**9) | list }}", "a range of more than 100,000 items is refused (the sandbox's MAX_RANGE)"),
    ("{{ 9 ** 999999 }}", "9 ** 999999 is too large a number (more than 65,536 bits)"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     f"the template loops more than {MAX_ITERATIONS:,} times; refused (a render must end in bounded time)"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "RecursionError"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
     f"the template makes more than {MAX_CALLS:,} calls; refused (a render must end in bounded time)"),
    ("{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ f('x', 40) }}",
     "'~' would be 2,097,152 characters long"),
    ("{% set s = 'x' * 1000000 %}{{ s + s }}", "'+' of two strs would be 2,000,000 characters long"),
    ("{{ '%999999999d' % 1 }}", "'%' formatting would be 999,999,999 characters long"),
    ("{{ '%*d' % (10**9, 1) }}", "'%' formatting: a '*' width is not allowed in a template"),
    ("{{ '{:>999999999}'.format(1) }}", "the result of str.format() would be 999,999,999 characters long"),
    ("{{ 'x'.ljust(10**9) }}", "the result of str.ljust() would be 1,000,000,000 characters long"),
    ("{{ 'x' | center(10**9) }}", "the result of the 'center' filter would be 1,000,000,000 characters long"),
    ("{{ 'x' | indent(10**9) }}", "the result of the 'indent' filter would be 1,000,000,000 characters long"),
    ("{{ '%999999999d' | format(1) }}", "the result of the 'format' filter would be 999,999,999 characters long"),
    ("{% set s = 'x' * 1000000 %}{{ s | replace('x', 'yy') }}",
     "the result of the 'replace' filter would be 2,000,000 characters long"),
    ("{% set s = 'x' * 1000000 %}{{ s.replace('x', 'yy') }}", "the result of str.replace() would be 2,000,000"),
    ("{% set s = 'x' * 600000 %}{{ [s, s] | join }}", "the result of the 'join' filter would be 1,200,00"),
    ("{% set s = 'x' * 600000 %}{{ ''.join([s, s]) }}", "the result of str.join() would be 1,200,00"),
    ("{% set s = 'x' * 600000 %}{{ s }}{{ s }}", "the rendered text would be 1,200,000 characters long"),
    ("{% set s = 'x' * 600000 %}{{ [s, s] | to_json }}", "the result of the 'to_json' filter would be 1,200,00"),
]


@pytest.mark.parametrize(("template", "message"), BOUNDS, ids=[t[:40] for t, _ in BOUNDS])
def test_every_render_is_bounded(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render(template)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_bounds_leave_room_for_real_templates() -> None:
    templar = Templar(VARS)
    assert len(templar.render("{{ 'x' * 1000000 }}")) == 1_000_000 <= MAX_OUTPUT
    assert templar.render("{% for i in range(1000) %}{% for j in range(100) %}{% endfor %}{% endfor %}ok") == "ok"
    assert templar.render("{{ 2 ** 1000 }}") == 2 ** 1000


def test_every_supported_filter_and_test_has_its_fqcn() -> None:
    env = Environment()
    for name in ANSIBLE_FILTERS:
        assert f"ansible.builtin.{name}" in env.filters, name
    for name in ("default", "d", "join", "lower", "map", "selectattr", "length", "int"):
        assert f"ansible.builtin.{name}" in env.filters, name
    for name in ANSIBLE_TESTS:
        assert f"ansible.builtin.{name}" in env.tests, name
    for name in ("defined", "undefined", "none", "string", "number", "mapping", "sequence", "iterable", "boolean",
                 "in"):
        assert f"ansible.builtin.{name}" in env.tests and name in env.tests, name


# -- where an error is: the caller's line plus the line within the string ----------------------------

def test_an_error_in_a_multi_line_string_names_its_own_line() -> None:
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render("set -e\necho {{ who }}\necho {{ nope }}\n")
    assert info.value.line == 3 and str(info.value) == "'nope' is undefined in 'echo {{ nope }}'"
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render("a\n{% if %}\n")
    assert info.value.line == 2


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return PluginRegistry([FakeShell(), FakeWait()])


PLAY = """\
- name: p
  targets: {tags: {Environment: dev}}
  vars: {who: world, pkgs: [curl, jq], conf: {port: 8080}}
  tasks:
    - name: script
      shell: |
        set -e
        echo {{ who }}
        apt-get install {{ pkgs | join(' ') }} {{ nope }}
    - name: "{{ conf.port }}"
      shell: echo {{ conf.port * 2 }} {{ who }}
"""


def test_the_compiler_names_the_file_line_of_an_error_in_a_block(registry: PluginRegistry) -> None:
    with pytest.raises(PlaybookError) as info:
        compile_text(PLAY, "site.yml", registry)
    assert str(info.value) == ("site.yml:9: tasks[0].shell: 'nope' is undefined in "
                               "\"apt-get install {{ pkgs | join(' ') }} {{ nope }}\"")


def test_the_compiler_renders_with_jinja_and_extra_vars_win(registry: PluginRegistry) -> None:
    plan = compile_text(PLAY.replace(" {{ nope }}", ""), "site.yml", registry, {"who": "ops"})
    steps = plan.plays[0].document.steps
    assert steps[0].inputs["cmd"] == "set -e\necho ops\napt-get install curl jq\n"
    assert (steps[1].name, steps[1].inputs["cmd"]) == ("8080", "echo 16160 ops")  # a lone number named as text


def test_no_message_is_more_than_one_line() -> None:
    for template, _ in ERRORS:
        try:
            Templar(VARS).render(template)
        except TemplateError as exc:
            assert re.fullmatch(r"[^\n]+", str(exc)), template
