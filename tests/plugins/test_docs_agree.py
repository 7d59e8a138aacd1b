"""docs/plugins.md agrees with the plugins' own schemas (Ansible's docs-vs-argument_spec check): every
plugin registered under the ``outpost.plugins`` entry points has a ``### NAME`` subsection of
"Built-in actions" that names every input of the plugin and of its aliases, with tables whose
names, types and required/defaults are what ``outpost plugin show NAME`` prints, its platforms, and
whether it supports check mode."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from plugins.sdk.contract import PluginSpec
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.schema import describe

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
SPECS = sorted(PluginRegistry.discover().specs(), key=lambda s: s.name)
_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|", re.MULTILINE)


def builtin_section() -> str:
    text = DOC.read_text()
    start = text.index("\n## Built-in actions\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


def subsection(name: str) -> str:
    section = builtin_section()
    heading = f"\n### {name}\n"
    assert heading in section, f"docs/plugins.md: no '### {name}' under '## Built-in actions'"
    start = section.index(heading) + len(heading)
    end = section.find("\n### ", start)
    return section[start:] if end == -1 else section[start:end]


def expected_rows(inputs: type) -> list[tuple[str, str, str]]:
    return [(f.name, f.type_name, "required" if f.required else f"`{json.dumps(f.default)}`")
            for f in describe(inputs)]


def tables(text: str) -> list[list[tuple[str, str, str]]]:
    """The input tables of a subsection, in order: each its rows (name, type, required / default)."""
    out: list[list[tuple[str, str, str]]] = []
    for block in re.split(r"\n\s*\n", text):
        rows = [(m.group(1), m.group(2).strip(), m.group(3).strip()) for m in _ROW.finditer(block)]
        if block.lstrip().startswith("| input |"):
            out.append(rows)
    return out


def schemas(spec: PluginSpec) -> list[type]:
    """The plugin's input classes, an alias's only when it has one of its own."""
    out = [spec.inputs]
    out.extend(a.inputs for a in spec.aliases if a.inputs not in out)
    return out


def test_every_plugin_is_found() -> None:
    assert {"shell", "powershell", "file", "lineinfile", "copy", "service"} <= {s.name for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_the_subsection_names_every_input(spec: PluginSpec) -> None:
    text = subsection(spec.name)
    missing = [f"{action}.{f.name}" for action, cls in [(spec.name, spec.inputs), *((a.name, a.inputs)
                                                                                    for a in spec.aliases)]
               for f in describe(cls) if f"`{f.name}`" not in text]
    assert not missing, f"docs/plugins.md '### {spec.name}' does not mention {', '.join(missing)}"
    for alias in spec.aliases:
        assert f"`{alias.name}`" in text, f"docs/plugins.md '### {spec.name}' does not name its alias {alias.name}"


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_the_tables_are_the_schemas(spec: PluginSpec) -> None:
    found = tables(subsection(spec.name))
    wanted = [expected_rows(cls) for cls in schemas(spec)]
    shown = "\n\n".join("\n".join(f"| `{n}` | {t} | {d} | ... |" for n, t, d in rows) for rows in wanted)
    assert found == wanted, f"docs/plugins.md '### {spec.name}': the input tables must read\n{shown}"


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_platforms_and_check_mode(spec: PluginSpec) -> None:
    text = subsection(spec.name)
    platforms = ", ".join(sorted(p.value for p in spec.platforms))
    assert f"Platforms: {platforms}." in text
    assert ("Check mode: supported" in text) is spec.supports_check_mode
    assert ("Check mode: not supported" in text) is not spec.supports_check_mode
