"""The layout rules of DEVELOPERS.md and docs/architecture.md, checked on every import statement in
the tree: which room may import which is data (``MAY_IMPORT``), and no two modules import each
other in a circle."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("agent", "controller", "plugins")

SDK = "plugins.sdk"  # the plugin author API: the modules directly in plugins/sdk/
WIRE = "plugins.sdk.wire"  # what crosses the wire between controller and agent
HOST = "plugins.sdk.host"  # what the controller and the agent share as plugin hosts
PB = "outpost"  # the generated protobuf code
SHARED = {SDK, WIRE, HOST}

# room -> the other rooms it may import. A module belongs to the longest room that prefixes its name;
# a room may always import itself. The controller's rooms are listed lowest first.
MAY_IMPORT: dict[str, set[str]] = {
    "controller.model": {SDK, WIRE},
    "controller.shorthand": {SDK},  # the AWS CLI's --targets / --parameters syntax, for every room reading them
    "controller.wire": {"controller.model", PB},  # targets and tags, for both edges
    "controller.store": {"controller.model", SDK, WIRE, HOST},
    # documents/yamlload.py: a policy read bounded; the store: the audit trail's writer
    "controller.trust": {"controller.model", "controller.store", "controller.documents", SDK, WIRE, HOST},
    "controller.events": {"controller.model", SDK, WIRE, HOST},
    "controller.fleet": {"controller.model", "controller.shorthand", "controller.store", SDK, WIRE, HOST},
    "controller.documents": {"controller.model", "controller.store", SDK, WIRE, HOST},
    "controller.dispatch": {"controller.model", "controller.store", "controller.fleet",
                            "controller.trust", "controller.events", SDK, WIRE, HOST},
    "controller.compiler": {"controller.model", "controller.documents", SDK, WIRE, HOST},
    "controller.server": {"controller.model", "controller.wire", "controller.store", "controller.dispatch",
                          "controller.documents", "controller.events", "controller.fleet", "controller.trust",
                          SDK, WIRE, HOST, PB},
    "controller.runtime": {"controller.model", "controller.store", "controller.dispatch",
                           "controller.documents", "controller.events", "controller.fleet", "controller.trust",
                           "controller.server", SDK, WIRE, HOST, PB},
    # the Python SDK (docs/sdk.md): the operator's connection (its transport, the CLI's too) and typed records
    "controller.sdk": {"controller.model", "controller.wire", "controller.runtime", SDK, WIRE, HOST, PB},
    # trust: `audit verify` checks the chain on the operator's side, not on the controller's word
    "controller.cli": {"controller.model", "controller.shorthand", "controller.wire", "controller.compiler",
                       "controller.sdk",
                       "controller.documents",
                       "controller.fleet", "controller.runtime", "controller.trust", SDK, WIRE, HOST, PB},
    "controller.dev": set(),  # runs the others as processes, imports none of them
    "agent": {SDK, WIRE, HOST, PB},
    "agent.swarm": {"agent", SDK, WIRE, HOST, PB},  # the load-testing seams; the agent never imports them
    SDK: set(),
    WIRE: {SDK, PB},
    HOST: {SDK, WIRE},
    "plugins": {SDK},  # plugins/<name>: the author API only, never another plugin
}
# controller/notification.py (a command's notification config: a webhook URL, SSM's events and type) sits
# beside the model, which carries it, for every room that reads or sends one
MAY_IMPORT["controller.notification"] = {SDK}
for _reader in ("controller.model", "controller.store", "controller.events", "controller.dispatch",
                "controller.server", "controller.runtime", "controller.cli", "controller.sdk"):
    MAY_IMPORT[_reader].add("controller.notification")
# the rooms a plugin's own package is: plugins/<name>/ for every name but sdk
PLUGIN_ROOM = "plugins"
AGENT_RUNTIME = {"grpc", "google", "cryptography", "yaml", "psutil"}
FIRST_PARTY = {"agent", "controller", "plugins", "outpost"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _is_module(name: str) -> bool:
    base = ROOT / ("proto/" if name.startswith("outpost") else "") / name.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every absolute import in ``path``. ``top_level_only``: those outside
    functions (a module's own dependencies, its type-only ones under ``if TYPE_CHECKING`` included)."""
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            at_import = False
        if at_import or not top_level_only:
            if isinstance(node, ast.Import):
                out.extend((node.lineno, a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    out.append((node.lineno, full if _is_module(full) else node.module))
        for child in ast.iter_child_nodes(node):
            visit(child, at_import)

    visit(ast.parse(path.read_text(), filename=str(path)), True)
    return out


def _room(module: str) -> str | None:
    if module.startswith("plugins.") and not module.startswith(SDK):
        return PLUGIN_ROOM
    if module == SDK or (module.startswith(SDK + ".") and module.count(".") == 2
                         and not module.startswith((WIRE, HOST))):
        return SDK
    best = None
    for room in MAY_IMPORT:
        if (module == room or module.startswith(room + ".")) and (best is None or len(room) > len(best)):
            best = room
    if best is None and module.split(".")[0] == PB:
        return PB
    return best


def test_every_module_has_a_room() -> None:
    lost = [_module_name(p) for p in _sources(*SOURCES) if _room(_module_name(p)) is None
            and _module_name(p) not in ("controller", "plugins")]
    assert not lost, f"modules in no room of MAY_IMPORT: {lost}"


def test_rooms_import_only_what_the_layering_allows() -> None:
    bad = []
    for path in _sources(*SOURCES):
        here = _module_name(path)
        mine = _room(here)
        for line, mod in _imports(path):
            if mod.split(".")[0] not in FIRST_PARTY:
                continue
            theirs = _room(mod)
            if theirs == mine and mine != PLUGIN_ROOM:
                continue
            if mine == PLUGIN_ROOM and theirs == PLUGIN_ROOM and here.split(".")[1] == mod.split(".")[1]:
                continue  # within one plugin's own package
            if theirs not in MAY_IMPORT.get(mine or "", set()):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {mine} may not import {mod} ({theirs})")
    assert not bad, "\n".join(bad)


def test_plugins_use_only_the_author_api() -> None:
    """A plugin imports ``from plugins.sdk import ...``, never the SDK's modules behind it."""
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {mod}"
           for p in _sources("plugins") if not p.is_relative_to(ROOT / "plugins" / "sdk")
           for line, mod in _imports(p)
           if mod.startswith("plugins.") and not mod.startswith(f"plugins.{p.relative_to(ROOT).parts[1]}")
           and mod != SDK]
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_cli() -> None:
    assert not [r for r, allowed in MAY_IMPORT.items() if "controller.cli" in allowed]
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {mod}" for p in _sources(*SOURCES, "bench")
           if not p.is_relative_to(ROOT / "controller" / "cli")
           for line, mod in _imports(p) if mod.startswith("controller.cli")
           and not (p.is_relative_to(ROOT / "bench") and mod == "controller.sdk.transport")]
    assert not bad, "\n".join(bad)


def test_the_room_graph_has_no_circle() -> None:
    seen: dict[str, int] = {}
    circles: list[str] = []

    def walk(room: str, path: list[str]) -> None:
        if seen.get(room) == 1:
            circles.append(" -> ".join([*path, room]))
            return
        if seen.get(room) == 2:
            return
        seen[room] = 1
        for other in sorted(MAY_IMPORT.get(room, ())):
            walk(other, [*path, room])
        seen[room] = 2
    for room in MAY_IMPORT:
        walk(room, [])
    assert not circles, f"rooms import each other in a circle: {circles}"


def test_no_module_imports_itself_back() -> None:
    """No circle of module-level imports (type-only ones included) between any modules of the tree."""
    graph: dict[str, set[str]] = {}
    for path in _sources(*SOURCES):
        here = _module_name(path)
        graph[here] = {m for _, m in _imports(path, top_level_only=True)
                       if m.split(".")[0] in FIRST_PARTY and m != here}
    circles, index, low, stack, on = [], {}, {}, [], set()

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package's __init__ importing its own modules is not a circle of concepts
            if len(comp) > 1 and not all(c.startswith(min(comp, key=len) + ".") or c == min(comp, key=len)
                                         for c in comp):
                circles.append(sorted(comp))
    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    assert not circles, "\n".join(" <-> ".join(c) for c in circles)


# Where protobuf may be touched: the edges. Inside them every boundary is typed (plugins/sdk/wire/
# messages.py, results.py, the controller's model); conversion is plugins/sdk/wire/convert.py (what
# both sides share), the controller's service edge (controller/server/) and the agent's connection.
PROTOBUF_EDGES = (
    "plugins/sdk/wire/convert.py", "plugins/sdk/wire/envelope.py",  # the signed envelope is a pb message
    "agent/connection.py", "agent/enroll.py",
    "controller/server/", "controller/runtime/serve.py",  # the servicers and their registration
    "controller/wire.py",  # targets and tags, which both the servicers and the CLI carry
    "controller/sdk/transport.py", "controller/sdk/transport_stores.py",  # the CLI's requests
    "controller/cli/render.py",  # the CLI's rows from the answers
    "controller/sdk/convert.py",  # the SDK's records from the answers
)


def test_protobuf_stays_at_the_edges() -> None:
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {mod}"
           for p in _sources(*SOURCES) if not str(p.relative_to(ROOT)).startswith(PROTOBUF_EDGES)
           for line, mod in _imports(p) if mod.split(".")[0] == PB]
    assert not bad, "\n".join(bad)


def test_agent_runtime_needs_only_its_five_libraries() -> None:
    stdlib = sys.stdlib_module_names
    allowed = AGENT_RUNTIME | FIRST_PARTY | set(stdlib) | {"__future__"}
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {mod}"
           for pkg in ("agent", "plugins") for p in _sources(pkg) for line, mod in _imports(p)
           if mod.split(".")[0] not in allowed]
    assert not bad, "\n".join(bad)


def test_no_python_package_named_proto() -> None:
    assert not (ROOT / "proto" / "__init__.py").exists()
    assert not list(ROOT.glob("*/proto/__init__.py"))
    assert (ROOT / "proto" / "outpost" / "v1" / "outpost.proto").exists()


def test_controller_keeps_at_most_six_modules_of_its_own() -> None:
    """The controller's modules live in its rooms; only the shared model and the clock stand beside them."""
    loose = sorted(p.name for p in (ROOT / "controller").glob("*.py"))
    assert len(loose) <= 6, loose


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(ROOT)}: {n} lines" for pkg in SOURCES
           for p in _sources(pkg) if (n := len(p.read_text().splitlines())) > 450]
    assert not big, "\n".join(big)


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_every_room_exists(room: str) -> None:
    assert room == PLUGIN_ROOM or _is_module(room), f"MAY_IMPORT names {room}, which is no module or package"
