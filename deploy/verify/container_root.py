"""A running container's own files, read from the host through /proc/<pid>/root.

Nothing runs inside the container: its image may have no shell and no coreutils (the
calculator's has neither), and a container cannot misreport what the host reads. Reading
another process's root needs the host's root user, as the rest of this tool does.

Paths are resolved here, one component at a time inside the container's root, so an
absolute symlink in the image never leads out to the host's files. The walk stays on the
container's root file system as ``find / -xdev`` does (entries on other devices are seen,
not entered). A write is judged by the permission bits and by the container's own
mounts (/proc/<pid>/mountinfo): a read-only mount refuses every writer.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

HOST_PROC = Path("/proc")
# Kernel views and the tmpfs: not part of the image's files.
PRUNED = frozenset({"/proc", "/sys", "/dev", "/tmp"})  # noqa: S108 - paths in the container
MAX_SYMLINKS = 40
READ, WRITE, SEARCH = 4, 2, 1


@dataclass(frozen=True)
class Identity:
    """Who a process is to the kernel: effective uid, gid and supplementary groups."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def of(cls, status: dict[str, str]) -> Identity:
        """The identity in the fields of /proc/<pid>/status."""
        uid, gid = (int(status[key].split()[1]) for key in ("Uid", "Gid"))
        groups = frozenset(int(group) for group in status.get("Groups", "").split())
        return cls(uid, gid, groups | {gid})


def root_of(pid: int) -> Path:
    """The host's view of the process's root directory."""
    return HOST_PROC / str(pid) / "root"


def resolve(pid: int, path: str) -> Path:
    """The host path of the container path ``path``, its symlinks followed inside the container."""
    root = root_of(pid)
    resolved: list[str] = []
    pending = list(PurePosixPath(path).parts[1:])
    links = 0
    while pending:
        part = pending.pop(0)
        if part in {"", "."}:
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, "too many symlinks", path)
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                resolved = []
                pending = list(target.parts[1:]) + pending
            else:
                pending = list(target.parts) + pending
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def read_text(pid: int, path: str) -> str:
    """The text of a file in the container."""
    return resolve(pid, path).read_text(encoding="utf-8")


def walk(pid: int) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry of the container's root file system: its path in the container and lstat."""
    root = root_of(pid)
    device = os.stat(root).st_dev
    pending = ["/"]
    while pending:
        directory = pending.pop()
        with os.scandir(root / directory.lstrip("/")) as entries:
            for entry in entries:
                path = f"{directory.rstrip('/')}/{entry.name}"
                info = entry.stat(follow_symlinks=False)
                yield path, info
                on_root = info.st_dev == device
                if stat.S_ISDIR(info.st_mode) and on_root and path not in PRUNED:
                    pending.append(path)


def setuid_files(pid: int) -> list[str]:
    """Regular files with a setuid or setgid bit (``find / -xdev -perm /6000 -type f``)."""
    return sorted(
        path
        for path, info in walk(pid)
        if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_ISUID | stat.S_ISGID)
    )


def owned_or_writable(pid: int, uid: int, gid: int) -> list[str]:
    """Paths owned by ``uid``, group-writable for ``gid``, or writable by all (not symlinks,
    not sticky directories): every place where the runtime user could change code."""
    found = []
    for path, info in walk(pid):
        mode = info.st_mode
        group_writable = info.st_gid == gid and mode & stat.S_IWGRP
        world_writable = mode & stat.S_IWOTH and not stat.S_ISLNK(mode) and not mode & stat.S_ISVTX
        if info.st_uid == uid or group_writable or world_writable:
            found.append(path)
    return sorted(found)


def mounts(pid: int) -> list[tuple[str, list[str]]]:
    """Each mount of the process's namespace: its mount point (in the container) and the
    per-mount and file-system options together, in mount order."""
    table = []
    text = (HOST_PROC / str(pid) / "mountinfo").read_text(encoding="utf-8")
    for line in text.splitlines():
        fields = line.split()
        separator = fields.index("-")
        point = fields[4].encode().decode("unicode_escape")  # \040 and friends
        table.append((point, fields[5].split(",") + fields[separator + 3].split(",")))
    return table


def mount_options(pid: int, path: str) -> list[str]:
    """The options of the mount that holds ``path`` (the deepest, last mounted, wins)."""
    best, options = "", []
    for point, point_options in mounts(pid):
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, options = point, point_options
    return options


def permits(info: os.stat_result, who: Identity, wanted: int) -> bool:
    """Whether the mode bits grant ``who`` the ``wanted`` access (READ, WRITE, SEARCH)."""
    if info.st_uid == who.uid:
        bits = info.st_mode >> 6
    elif info.st_gid in who.groups:
        bits = info.st_mode >> 3
    else:
        bits = info.st_mode
    return bits & wanted == wanted


def may_access(pid: int, path: str, who: Identity, wanted: int) -> bool:
    """access(2) for ``who`` on a container path: search on every directory above it, the
    wanted bits on it, and no write on a read-only mount."""
    host = resolve(pid, path)
    root = root_of(pid)
    directories = [directory for directory in host.parents if directory.is_relative_to(root)]
    if not all(permits(os.stat(directory), who, SEARCH) for directory in directories):
        return False
    if not permits(os.stat(host), who, wanted):
        return False
    return not (wanted & WRITE and "ro" in mount_options(pid, path))


def write_probe(pid: int, path: str) -> str:
    """Create (and at once remove) ``path`` in the container through its own mounts; return
    the error the kernel gave, or "" when the write succeeded."""
    directory, name = os.path.split(path)
    target = resolve(pid, directory) / name
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        return f"{path}: {error.strerror}"
    os.close(descriptor)
    target.unlink()  # leave no trace in the container
    return ""


def user_name(pid: int, uid: int) -> str:
    """The name the container's /etc/passwd gives ``uid`` (empty when it has none)."""
    return _name(pid, "/etc/passwd", uid)


def group_name(pid: int, gid: int) -> str:
    """The name the container's /etc/group gives ``gid`` (empty when it has none)."""
    return _name(pid, "/etc/group", gid)


def _name(pid: int, database: str, number: int) -> str:
    try:
        text = read_text(pid, database)
    except OSError:
        return ""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == str(number):
            return fields[0]
    return ""
