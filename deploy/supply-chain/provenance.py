"""The SLSA provenance v1 predicate of a built image, for ``cosign attest --type slsaprovenance1``.

Usage: python provenance.py IMAGE [LOCK] > predicate.json

What it records, each from where it is already written: the source commit, its
dirty flag and the build arguments from the image's OCI labels (build.sh sets
them from git); the base image and its digest (the digest-pinned official
image, or the local stand-in's image id); the wheel hashes from the lock
(pip refuses any other file at build time); the builder (the Docker engine and
Compose versions); the build time from the image's creation time. The
statement's subject, the image digest, is added by cosign.
See https://slsa.dev/spec/v1.0/provenance.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Names this project's build (docs/supply-chain.md, "Provenance"): compose build of a
# Dockerfile with the build arguments below.
BUILD_TYPE = "urn:calculator-service:build-type:compose-build:v1"
LABEL = "org.opencontainers.image."
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def _docker(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["docker", *args],  # noqa: S607 - the docker CLI on PATH, as every script uses it
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def locked_wheels(lock: str) -> list[dict[str, Any]]:
    """One resource descriptor per file hash the lock allows, as pip checks them."""
    wheels: list[dict[str, Any]] = []
    current = None
    for line in lock.splitlines():
        requirement = _REQUIREMENT.match(line)
        if requirement:
            current = requirement.groups()
        for digest in _HASH.findall(line):
            if current is not None:
                name, version = current
                wheels.append({"uri": f"pkg:pypi/{name}@{version}", "digest": {"sha256": digest}})
    return wheels


def base_image(reference: str) -> dict[str, Any]:
    """The base as named, with its digest: the pinned one, else the local image's id."""
    _, _, pinned = reference.partition("@sha256:")
    if pinned:
        return {"uri": f"docker-image://{reference}", "digest": {"sha256": pinned}}
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", reference).strip()
    return {
        "uri": f"docker-image://{reference}",
        "digest": {"sha256": image_id.removeprefix("sha256:")},
        "annotations": {"digestOf": "the local image's configuration (docker image id)"},
    }


def predicate(image: str, lock_path: Path | None) -> dict[str, Any]:
    """The provenance predicate of the local image ``image``, its wheels from ``lock_path``."""
    inspected = json.loads(_docker("image", "inspect", image))[0]
    labels = inspected["Config"].get("Labels") or {}
    revision = labels.get(f"{LABEL}revision", "unknown")
    versions = json.loads(_docker("version", "--format", "{{json .}}"))
    compose = _docker("compose", "version", "--short").strip()
    base = labels.get(f"{LABEL}base.name", "")
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "source": {
                    "uri": labels.get(f"{LABEL}source", "unknown"),
                    "digest": {"gitCommit": revision.removesuffix("-dirty")},
                },
                "dirty": revision.endswith("-dirty"),
                "buildArgs": {
                    "VERSION": labels.get(f"{LABEL}version"),
                    "REVISION": revision,
                    "CREATED": labels.get(f"{LABEL}created"),
                    "SOURCE": labels.get(f"{LABEL}source"),
                    "BASE_IMAGE": base,
                },
            },
            "resolvedDependencies": [
                *([base_image(base)] if base else []),
                *(locked_wheels(lock_path.read_text(encoding="utf-8")) if lock_path else []),
            ],
        },
        "runDetails": {
            "builder": {
                "id": "urn:calculator-service:builder:docker-compose",
                "version": {
                    "docker-engine": versions["Server"]["Version"],
                    "docker-compose": compose,
                },
            },
            "metadata": {
                "invocationId": str(uuid.uuid4()),
                "startedOn": inspected["Created"],
                "finishedOn": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        },
    }


def main(argv: list[str]) -> int:
    """Print the predicate of the image argv[1], with the wheels of the lock argv[2] if given."""
    if len(argv) not in (2, 3):
        print("usage: provenance.py IMAGE [LOCK]", file=sys.stderr)
        return 2
    lock = Path(argv[2]) if len(argv) == 3 else None
    json.dump(predicate(argv[1], lock), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
