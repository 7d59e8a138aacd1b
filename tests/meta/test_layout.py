"""The layout rules of DEVELOPERS.md, checked on every import statement in the tree."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> top-level packages it must never import
FORBIDDEN = {
    "agent": {"controller"},
    "plugins": {"controller", "agent"},
    "controller": {"agent"},
}
SDK_ALLOWED_FIRST_PARTY = {"plugins", "outpost"}
AGENT_RUNTIME = {"grpc", "google", "cryptography", "yaml", "psutil"}
FIRST_PARTY = {"agent", "controller", "plugins", "outpost"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_respect_import_rules(package: str) -> None:
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {mod}"
           for p in _sources(package) for line, mod in _imports(p)
           if mod.split(".")[0] in FORBIDDEN[package]]
    assert not bad, "\n".join(bad)


def test_sdk_imports_only_itself_and_the_contract() -> None:
    bad = [f"{p.relative_to(ROOT)}:{line}: imports {mod}"
           for p in sorted((ROOT / "plugins" / "sdk").rglob("*.py")) for line, mod in _imports(p)
           if mod.split(".")[0] in FIRST_PARTY and not (mod == "plugins" or mod.startswith("plugins.sdk")
                                                          or mod.startswith("outpost."))]
    assert not bad, "\n".join(bad)


def test_agent_runtime_needs_only_its_five_libraries() -> None:
    import sys

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


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(ROOT)}: {n} lines" for pkg in ("agent", "controller", "plugins")
           for p in _sources(pkg) if (n := len(p.read_text().splitlines())) > 450]
    assert not big, "\n".join(big)
