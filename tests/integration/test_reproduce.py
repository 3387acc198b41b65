"""The reproducible build: two clean buildah builds of one commit give one digest.

The script runs once for the module (two builds from empty storage roots, about a
minute each); one more build with another SOURCE_DATE_EPOCH shows that the
comparison sees a difference and names it. Builds land in a scratch directory
and the image handed to Docker has this run's own tag; both are removed afterwards.
"""

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import require_docker
from .docker_cli import PREFIX, ROOT, docker

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "deploy/scripts/reproduce.sh"
SCRIPT_TIMEOUT_SECONDS = 900
DIGEST = re.compile(r"^(first|second) build: +(sha256:[0-9a-f]{64})$", re.MULTILINE)
ONE_DAY = 86_400


@dataclass(frozen=True)
class Reproduction:
    """One run of reproduce.sh: its result, where its builds are, the tag it loaded."""

    completed: subprocess.CompletedProcess[str]
    builds: Path
    docker_image: str

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run reproduce.sh ARGS against the same builds directory."""
        return run_script(*args, builds=self.builds, docker_image=self.docker_image, **env)


def run_script(
    *args: str, builds: Path, docker_image: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """reproduce.sh with its builds in `builds` and `docker_image` as the tag it loads."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
        cwd=ROOT,
        env={
            **os.environ,
            "REPRODUCE_DIR": str(builds),
            "CALCULATOR_REPRODUCIBLE_IMAGE": docker_image,
            **env,
        },
    )


def commit_time() -> int:
    """The time of the checked-out commit, which the script uses as SOURCE_DATE_EPOCH."""
    shown = subprocess.run(
        ["git", "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return int(shown.stdout)


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reproduction]:
    """`reproduce.sh` run once: two builds, compared, the second handed to Docker."""
    require_docker()
    builds = tmp_path_factory.mktemp("reproduce")
    docker_image = f"{PREFIX}-reproduce:latest"
    try:
        completed = run_script(builds=builds, docker_image=docker_image)
        yield Reproduction(completed, builds, docker_image)
    finally:
        docker("image", "rm", "--force", docker_image, check=False)
        shutil.rmtree(builds, ignore_errors=True)


def test_two_clean_builds_give_one_digest(reproduction: Reproduction) -> None:
    """Two builds of the same commit, each from an empty storage root, print the same digest."""
    completed = reproduction.completed
    assert completed.returncode == 0, completed.stdout + completed.stderr
    digests = dict(DIGEST.findall(completed.stdout))
    assert digests.keys() == {"first", "second"}
    assert digests["first"] == digests["second"]
    assert "reproducible: both builds have the same image digest" in completed.stdout


def test_docker_gets_the_reproducible_image(reproduction: Reproduction) -> None:
    """The image handed to Docker has the build's config as its ID, and keeps its health check."""
    assert reproduction.completed.returncode == 0, reproduction.completed.stderr
    manifest = json.loads((reproduction.builds / "second/image/manifest.json").read_text())
    inspected = json.loads(docker("image", "inspect", reproduction.docker_image).stdout)[0]
    assert inspected["Id"] == manifest["config"]["digest"]
    assert inspected["Config"]["Healthcheck"]["Test"][0] == "CMD"
    assert inspected["Config"]["User"] == "10001:10001"


def test_another_commit_time_is_reported(reproduction: Reproduction) -> None:
    """A build a day earlier differs, and the report names the config date and the files'
    modification times."""
    assert reproduction.completed.returncode == 0, reproduction.completed.stderr
    earlier = reproduction.run("build", "earlier", SOURCE_DATE_EPOCH=str(commit_time() - ONE_DAY))
    assert earlier.returncode == 0, earlier.stdout + earlier.stderr

    compared = reproduction.run("compare", "first", "earlier")

    assert compared.returncode == 1, compared.stdout + compared.stderr
    digests = dict(DIGEST.findall(compared.stdout))
    assert digests["first"] != digests["second"]
    assert "NOT reproducible: the image digests differ" in compared.stderr
    assert re.search(r"^config created: ", compared.stderr, re.MULTILINE)
    assert re.search(r"files have another mtime", compared.stderr)
