"""A Debian root of its own for the patch plugin's tests: real dpkg and apt, never the machine's own
packages.

:func:`build_repository` builds tiny packages with dpkg-deb (version 1.0 and 2.0 of each, and a 2.0
alone of ``outpost-demo-extra``, which is never installed at the start) and publishes the 2.0s in a
local ``file:`` repository with two suites: ``demo`` and ``demo-security`` (the latter's suite ends
in ``-security``: apt's classification says security). :func:`make_root`
makes a root with the 1.0s installed by ``dpkg --root``, a sources.list naming the repository
(``[trusted=yes]``), and the ``APT_CONFIG`` file that points apt and dpkg at that root and nowhere
else: not the machine's apt.conf.d (``Dir::Etc::parts``), status, lists, caches, preferences, logs
or locks. The plugin is given nothing but ``APT_CONFIG`` in its environment. :func:`update_lists` runs
``apt-get update`` in it, for a step that reads the lists without refreshing them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HOST_STATUS = Path("/var/lib/dpkg/status")


@dataclass(frozen=True)
class DemoPackage:
    name: str
    version: str
    section: str = "misc"
    priority: str = "optional"
    depends: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path under the root -> content


def _kernel_files(version: str) -> dict[str, str]:
    # Debian's convention for "this update needs a reboot", shipped as data: maintainer scripts
    # would run chrooted into the sandbox, which has no shell.
    return {"var/run/reboot-required": "*** System restart required ***\n",
            "var/run/reboot-required.pkgs": "outpost-demo-kernel\n"} if version == "2.0" else {}


def demo_packages() -> list[DemoPackage]:
    out = []
    for version in ("1.0", "2.0"):
        out += [
            DemoPackage("outpost-demo-a", version, section="admin", priority="optional"),
            DemoPackage("outpost-demo-b", version, section="net", priority="optional",
                        depends="outpost-demo-rejected (>= 2.0)" if version == "2.0" else ""),
            DemoPackage("outpost-demo-rejected", version, section="misc", priority="extra"),
            DemoPackage("outpost-demo-kernel", version, section="kernel", priority="important",
                        files=_kernel_files(version)),
        ]
    # published, never installed by make_root (it has no 1.0): for the package action to install
    out.append(DemoPackage("outpost-demo-extra", "2.0", section="misc", priority="optional"))
    return out


SUITES = {  # suite -> the packages (2.0) it publishes
    "demo": ("outpost-demo-a", "outpost-demo-b", "outpost-demo-rejected", "outpost-demo-extra"),
    "demo-security": ("outpost-demo-kernel",),
}


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def build_deb(pkg: DemoPackage, work: Path, out: Path) -> Path:
    tree = work / f"{pkg.name}_{pkg.version}"
    (tree / "DEBIAN").mkdir(parents=True)
    control = [f"Package: {pkg.name}", f"Version: {pkg.version}", "Architecture: all",
               "Maintainer: Outpost <outpost@example.invalid>", f"Section: {pkg.section}",
               f"Priority: {pkg.priority}"]
    if pkg.depends:
        control.append(f"Depends: {pkg.depends}")
    control.append(f"Description: Outpost's patch test package {pkg.name} {pkg.version}")
    (tree / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    files = {f"usr/share/doc/{pkg.name}/VERSION": f"{pkg.version}\n", **pkg.files}
    for rel, content in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(content)
    deb = out / f"{pkg.name}_{pkg.version}_all.deb"
    _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(tree), str(deb)])
    return deb


def native_architecture() -> str:
    return _run(["dpkg", "--print-architecture"]).strip()


@dataclass(frozen=True)
class Repository:
    path: Path  # the file: repository (dists/, pool/)
    debs: dict[tuple[str, str], Path]  # (name, version) -> .deb


def build_repository(base: Path) -> Repository:
    work, debs_dir, repo = base / "build", base / "debs", base / "repo"
    for d in (work, debs_dir, repo):
        d.mkdir(parents=True)
    debs = {(p.name, p.version): build_deb(p, work, debs_dir) for p in demo_packages()}
    arch = native_architecture()
    for suite, names in SUITES.items():
        pool = repo / "pool" / suite
        pool.mkdir(parents=True)
        for name in names:
            shutil.copy(debs[(name, "2.0")], pool)
        index = f"main/binary-{arch}/Packages"
        (repo / "dists" / suite / index).parent.mkdir(parents=True)
        packages = subprocess.run(["dpkg-scanpackages", "-m", f"pool/{suite}", "/dev/null"], cwd=repo,
                                  capture_output=True, check=True).stdout
        (repo / "dists" / suite / index).write_bytes(packages)
        (repo / "dists" / suite / "Release").write_text(
            f"Origin: Outpost\nLabel: Outpost\nSuite: {suite}\nCodename: {suite}\n"
            f"Date: Sat, 01 Jan 2022 00:00:00 UTC\nArchitectures: {arch}\nComponents: main\nSHA256:\n"
            f" {hashlib.sha256(packages).hexdigest()} {len(packages)} {index}\n")
    return Repository(repo, debs)


@dataclass(frozen=True)
class Sandbox:
    root: Path
    apt_config: Path

    @property
    def env(self) -> dict[str, str]:
        """What the plugin's step is given: PATH and APT_CONFIG."""
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "APT_CONFIG": str(self.apt_config)}

    def installed(self) -> dict[str, str]:
        """name -> version of what dpkg's status in the sandbox says is installed."""
        out, name, version, ok = {}, "", "", False
        for line in [*(self.root / "var/lib/dpkg/status").read_text().splitlines(), ""]:
            if line.startswith("Package: "):
                name = line.split(": ", 1)[1]
            elif line.startswith("Version: "):
                version = line.split(": ", 1)[1]
            elif line.startswith("Status: "):
                ok = line.endswith(" installed")
            elif not line and name:
                if ok:
                    out[name] = version
                name, version, ok = "", "", False
        return out


APT_CONFIG = """\
Dir::Etc::main "{root}/etc/apt/apt.conf";
Dir::Etc::parts "{root}/etc/apt/apt.conf.d";
Dir::Etc::sourcelist "{root}/etc/apt/sources.list";
Dir::Etc::sourceparts "{root}/etc/apt/sources.list.d";
Dir::Etc::preferences "{root}/etc/apt/preferences";
Dir::Etc::preferencesparts "{root}/etc/apt/preferences.d";
Dir::Etc::trusted "{root}/etc/apt/trusted.gpg";
Dir::Etc::trustedparts "{root}/etc/apt/trusted.gpg.d";
Dir::State "{root}/var/lib/apt";
Dir::State::status "{root}/var/lib/dpkg/status";
Dir::Cache "{root}/var/cache/apt";
Dir::Log "{root}/var/log/apt";
APT::Sandbox::User "root";
Acquire::Languages "none";
DPkg::Options {{ "--root={root}"; "--force-not-root"; "--force-script-chrootless"; }};
"""


def write_apt_config(root: Path, repo: Path) -> Path:
    (root / "etc/apt/sources.list").write_text(
        "".join(f"deb [trusted=yes] file:{repo} {suite} main\n" for suite in SUITES))
    config = root / "etc/apt/outpost-sandbox.conf"
    config.write_text(APT_CONFIG.format(root=root))
    return config


def make_root(root: Path, repo: Repository) -> Sandbox:
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/lib/apt/lists/partial",
              "var/cache/apt/archives/partial", "var/log/apt", "etc/apt/apt.conf.d", "etc/apt/sources.list.d",
              "etc/apt/preferences.d", "etc/apt/trusted.gpg.d"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for f in ("var/lib/dpkg/status", "var/lib/dpkg/available"):
        (root / f).touch()
    v1 = [str(deb) for (_, version), deb in sorted(repo.debs.items()) if version == "1.0"]
    _run(["dpkg", f"--root={root}", "--force-not-root", "--force-script-chrootless", "-i", *v1])
    return Sandbox(root, write_apt_config(root, repo.path))


def copy_root(template: Sandbox, root: Path, repo: Repository) -> Sandbox:
    """A fresh copy of ``template``'s root (cheaper than installing again)."""
    shutil.copytree(template.root, root, symlinks=True)
    return Sandbox(root, write_apt_config(root, repo.path))


def update_lists(box: Sandbox) -> None:
    """``apt-get update`` in the sandbox (its lists, from the repository)."""
    done = subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, check=False,
                          env={**os.environ, **box.env})
    if done.returncode != 0:
        raise RuntimeError(f"apt-get update failed ({done.returncode}): {done.stderr or done.stdout}")


def host_status_digest() -> str:
    return hashlib.sha256(HOST_STATUS.read_bytes()).hexdigest() if HOST_STATUS.exists() else ""
