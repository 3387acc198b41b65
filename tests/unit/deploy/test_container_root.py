"""The verifier reads a container's files from the host, never leaving the container's root."""

import os
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "verify"))

# The verifier's modules import one another as top-level modules, as they do when
# `python deploy/verify` runs the directory.
import container_root
from container_root import READ, WRITE, Identity

PID = 4242
USER = Identity(uid=os.getuid() + 1, gid=os.getgid() + 1, groups=frozenset({os.getgid() + 1}))
MOUNTINFO = (
    "1 0 0:1 / / ro,relatime - overlay overlay rw,lowerdir=x\n"
    "2 1 0:2 / /tmp rw,nosuid - tmpfs tmpfs rw\n"
    "3 1 8:1 /c.json /config/config.json ro,relatime - ext4 /dev/sda1 rw\n"
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake /proc/<PID>/root with a small image in it, and that process's mountinfo."""
    monkeypatch.setattr(container_root, "HOST_PROC", tmp_path)
    image = tmp_path / str(PID) / "root"
    (image / "etc").mkdir(parents=True)
    (image / "etc" / "passwd").write_text(f"calculator:x:{USER.uid}:{USER.gid}::/x:/x\n")
    (image / "config").mkdir()
    (image / "config" / "config.json").write_text("{}")
    (image / "app").mkdir()
    (image / "app" / "code.py").write_text("")
    (image / "tmp").mkdir()
    (tmp_path / str(PID) / "mountinfo").write_text(MOUNTINFO)
    return image


def test_absolute_symlink_resolves_inside_the_container(root: Path) -> None:
    """A symlink to /etc/passwd means the container's file, never the host's."""
    (root / "link").symlink_to("/etc/passwd")
    assert container_root.resolve(PID, "/link") == root / "etc" / "passwd"
    assert container_root.user_name(PID, USER.uid) == "calculator"


def test_dotdot_cannot_climb_above_the_root(root: Path) -> None:
    """.. at the container's root stays at its root, as the kernel does."""
    assert container_root.resolve(PID, "/../../etc/passwd") == root / "etc" / "passwd"


def test_owned_and_world_writable_paths_are_found(root: Path) -> None:
    """Files the user owns, or anyone may write, are reported; a sticky directory is not."""
    (root / "app" / "code.py").chmod(0o666)
    (root / "tmp").chmod(0o1777)
    found = container_root.owned_or_writable(PID, USER.uid, USER.gid)
    assert found == ["/app/code.py"]


def test_setuid_files_are_found(root: Path) -> None:
    """A regular file with the setuid bit is reported by its path in the container."""
    (root / "app" / "code.py").chmod(0o755 | stat.S_ISUID)
    assert container_root.setuid_files(PID) == ["/app/code.py"]


def test_read_only_mount_refuses_writes_whatever_the_mode(root: Path) -> None:
    """The config is world-writable by its bits, yet not writable: its mount is read-only."""
    (root / "config" / "config.json").chmod(0o666)
    assert container_root.may_access(PID, "/config/config.json", USER, READ)
    assert not container_root.may_access(PID, "/config/config.json", USER, WRITE)
    in_tmpfs = "/tmp/x"  # noqa: S108 - a path in the fake container
    assert container_root.mount_options(PID, in_tmpfs)[:2] == ["rw", "nosuid"]


def test_unsearchable_directory_denies_access(root: Path) -> None:
    """A file in a directory the user may not search is not readable, whatever its bits."""
    (root / "config").chmod(0o700)
    assert not container_root.may_access(PID, "/config/config.json", USER, READ)
