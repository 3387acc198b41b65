"""Assemble the runtime image's root file system from the builder stage.

Run by the Dockerfile's builder stage as ``python runtime_root.py RECORD ROOT``, after
deploy/scripts/smoke_test.py wrote RECORD (what loading and serving the service used).
ROOT becomes the whole ``FROM scratch`` image, and holds only:

- the interpreter the virtual environment points at, with its chain of symlinks;
- the standard-library modules the smoke test loaded, as sourceless byte code (pure
  Python) or as they are (extension modules), and ``os.pyc`` and ``lib-dynload/``,
  the landmarks the interpreter finds its prefix by;
- the virtual environment, the app and /config, as the builder made them;
- every shared library those ELF files need, found by ``ldd`` (the loader itself),
  and the loader's cache of them (``ldconfig -r``);
- the other files the smoke test opened (none today: no CA bundle, no time zone);
- /etc/passwd and /etc/group with the one user, /etc/os-release and /etc/debian_version
  (what scanners identify Debian by), an empty /tmp;
- the dpkg record of every Debian package with a file in ROOT, one stanza per file
  under /var/lib/dpkg/status.d/ (the distroless layout scanners read), and that
  package's copyright file.

Paths are probed from the running interpreter (sysconfig), never named: the same
script serves the official image (Python under /usr/local) and Debian's python3.11.
Everything is owned by root, nothing is writable by anyone else (but /tmp), and no
file keeps a setuid or setgid bit.
"""

import json
import os
import py_compile
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

VENV = Path("/opt/venv")
COPIED_TREES = (VENV, Path("/app"), Path("/config"))
USER, UID, GID = "calculator", 10001, 10001
# The distroless form of the dpkg database: one status stanza per package.
STATUS_DIR = Path("var/lib/dpkg/status.d")
DPKG_INFO = Path("/var/lib/dpkg/info")
LDD_LINE = re.compile(r"(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)")
ELF_MAGIC = b"\x7fELF"


class Root:
    """The root being assembled: every path added keeps the symlinks that lead to it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def inside(self, path: str | Path) -> Path:
        """Where absolute ``path`` lands in the root."""
        return self.path / Path(path).relative_to("/")

    def add(self, path: str | Path) -> None:
        """Copy ``path`` (a file or a tree) into the root, recreating every symlink on the way."""
        parts = Path(path).parts
        current = Path("/")
        for index, part in enumerate(parts[1:], start=1):
            current = current / part
            if current.is_symlink():
                link = os.readlink(current)
                copy = self.inside(current)
                if not copy.is_symlink():
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    copy.symlink_to(link)
                target = os.path.normpath(current.parent / link)
                self.add(Path(target).joinpath(*parts[index + 1 :]))
                return
        copy = self.inside(current)
        if copy.exists():
            return
        copy.parent.mkdir(parents=True, exist_ok=True)
        if current.is_dir():
            shutil.copytree(current, copy, symlinks=True)
        else:
            shutil.copy2(current, copy)

    def files(self) -> Iterator[Path]:
        """Every file and symlink in the root, as its absolute path in the image."""
        for directory, _, names in os.walk(self.path):
            for name in names:
                yield Path("/") / Path(directory, name).relative_to(self.path)


def add_standard_library(root: Root, loaded: Iterable[str]) -> int:
    """Loaded pure-Python modules as sourceless byte code, loaded extensions as they are."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    dynload = Path(sysconfig.get_config_var("DESTSHARED"))
    # The interpreter finds its prefixes by these landmarks, loaded or not.
    root.inside(dynload).mkdir(parents=True, exist_ok=True)
    modules = {Path(file) for file in loaded} | {stdlib / "os.py"}
    for module in modules:
        if module.suffix == ".py":
            target = root.inside(module.with_suffix(".pyc"))
            target.parent.mkdir(parents=True, exist_ok=True)
            # Hash-based and unchecked: reproducible, and no source is looked for at import.
            py_compile.compile(
                str(module),
                cfile=str(target),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        else:
            root.add(module)
    return len(modules)


def is_elf(path: Path) -> bool:
    """Whether ``path`` is a regular ELF file (an executable or a shared library)."""
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(4) == ELF_MAGIC


def add_shared_libraries(root: Root) -> set[str]:
    """Every library the root's ELF files need, as the loader resolves it; their directories."""
    directories = set()
    pending = [path for path in root.files() if is_elf(root.inside(path))]
    seen = set(pending)
    while pending:
        # The base's own ldd, a fixed argv: the loader itself resolves each dependency.
        output = subprocess.run(  # noqa: S603
            ["ldd", str(pending.pop())],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "not found" in output:
            raise SystemExit(f"runtime_root: unresolved libraries:\n{output}")
        for library in map(Path, LDD_LINE.findall(output)):
            if library not in seen:
                seen.add(library)
                pending.append(library)
                root.add(library)
                directories.add(os.path.realpath(library.parent))
    return directories


def write_loader_cache(root: Root, directories: set[str]) -> None:
    """The loader's cache of the shipped libraries, made by ldconfig for the root."""
    conf = root.inside("/etc/ld.so.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("".join(f"{directory}\n" for directory in sorted(directories)))
    subprocess.run(["ldconfig", "-r", str(root.path)], check=True)  # noqa: S603, S607
    conf.unlink()


def owners() -> dict[str, set[str]]:
    """Each path dpkg lists (directory resolved, so /lib and /usr/lib agree) -> its packages."""
    table: dict[str, set[str]] = {}
    for listing in DPKG_INFO.glob("*.list"):
        package = listing.name.removesuffix(".list")
        for line in listing.read_text(encoding="utf-8").splitlines():
            table.setdefault(canonical(line), set()).add(package)
    return table


def canonical(path: str) -> str:
    """``path`` with its directory's symlinks resolved (merged /usr), the name kept."""
    directory, name = os.path.split(path)
    return os.path.join(os.path.realpath(directory), name)


def shipped_packages(root: Root) -> set[str]:
    """The Debian packages with a file in the root; byte code counts for its source."""
    table = owners()
    packages = set()
    for path in root.files():
        source = path.with_suffix(".py") if path.suffix == ".pyc" else path
        packages |= table.get(canonical(str(source)), set())
    return packages


def write_package_records(root: Root) -> list[str]:
    """Each shipped package's copyright file, then its dpkg status stanza.

    A copyright file can belong to another package (libgcc-s1's doc directory is a
    symlink to gcc-12-base's), which then ships a file too: repeat until nothing is new.
    """
    packages: set[str] = set()
    while (found := shipped_packages(root)) != packages:
        packages = found
        for package in packages:
            copyright_file = Path("/usr/share/doc", package.partition(":")[0], "copyright")
            if copyright_file.exists():
                root.add(copyright_file)
    directory = root.path / STATUS_DIR
    directory.mkdir(parents=True)
    for package in sorted(packages):
        stanza = subprocess.run(  # noqa: S603 - a fixed argv
            ["dpkg-query", "--status", package],  # noqa: S607 - the base's own dpkg-query
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (directory / package.partition(":")[0]).write_text(stanza.strip() + "\n", encoding="utf-8")
    return sorted(packages)


def write_identity(root: Root) -> None:
    """The one user and group, the OS identity scanners read, and the /tmp mount point."""
    etc = root.inside("/etc")
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(f"{USER}:x:{UID}:{GID}::/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"{USER}:x:{GID}:\n")
    # Trivy tells Debian by debian_version; other scanners read os-release (both base-files').
    root.add("/etc/os-release")
    root.add("/etc/debian_version")
    root.inside("/tmp").mkdir()  # noqa: S108 - the image's mount point, not a temp file


def normalise(root: Root) -> None:
    """Owned by root, readable by all, writable by root alone; /tmp sticky; no set-id bit."""
    for directory, names, files in os.walk(root.path):
        for name in [*names, *files]:
            path = Path(directory, name)
            os.lchown(path, 0, 0)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            executable = stat.S_ISDIR(mode) or mode & 0o111
            path.chmod(0o755 if executable else 0o644)
    os.chown(root.path, 0, 0)
    root.path.chmod(0o755)
    root.inside("/tmp").chmod(0o1777)  # noqa: S108 - the image's mount point


def main(argv: list[str]) -> int:
    """Assemble the root from the record; print what went in."""
    if len(argv) != 3:
        print(f"usage: {argv[0]} RECORD ROOT", file=sys.stderr)
        return 2
    used = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    root = Root(Path(argv[2]))
    root.path.mkdir()
    for tree in COPIED_TREES:
        root.add(tree)
    # The environment's python is a symlink to the interpreter the environment was made from.
    root.add(VENV / "bin" / "python")
    modules = add_standard_library(root, used["stdlib"])
    for path in used["opened"]:
        root.add(path)
    write_identity(root)
    write_loader_cache(root, add_shared_libraries(root))
    packages = write_package_records(root)
    normalise(root)
    print(
        f"runtime_root: {modules} standard-library modules, {sum(1 for _ in root.files())} files, "
        f"{len(packages)} Debian packages: {' '.join(packages)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
