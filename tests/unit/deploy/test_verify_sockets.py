"""The deployment verifier finds host sockets mounted into containers, by name or by file type."""

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "verify"))

# The verifier's modules import one another as top-level modules, as they do when
# `python deploy/verify` runs the directory.
from runtime_checks import socket_mounts


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    """A listening Unix socket whose name does not end in .sock."""
    path = tmp_path / "engine"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        yield path


def container_with(source: str, destination: str) -> dict[str, object]:
    """A `docker inspect` container record with one bind mount."""
    mounts = [{"Type": "bind", "Source": source, "Destination": destination}]
    return {"Name": "/app-1", "Mounts": mounts}


def test_socket_under_another_name_is_found(unix_socket: Path) -> None:
    """A host Unix socket is reported even when its name hides what it is."""
    assert list(socket_mounts(container_with(str(unix_socket), "/run/engine"))) == [
        "app-1:/run/engine"
    ]


def test_engine_socket_name_is_found_without_the_file(tmp_path: Path) -> None:
    """A mount named like an engine socket is reported even if the host path is gone."""
    found = socket_mounts(container_with(str(tmp_path / "gone.sock"), "/var/run/docker.sock"))
    assert list(found) == ["app-1:/var/run/docker.sock"]


def test_regular_file_mount_is_not_a_socket(tmp_path: Path) -> None:
    """The read-only config file mount is not mistaken for a socket."""
    config = tmp_path / "config.json"
    config.write_text("{}")
    assert list(socket_mounts(container_with(str(config), "/config/config.json"))) == []
