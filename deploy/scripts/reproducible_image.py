"""Normalise and compare images that buildah wrote as ``dir:`` layouts (Docker format).

Run by deploy/scripts/reproduce.sh:

``python reproducible_image.py normalise DIR`` blanks what buildah 1.28 makes up
for every build of a Docker-format image: the builder container's id
(``container``) and a random ``Hostname`` (in ``config`` and
``container_config``). Docker ignores both when it runs an image, and BuildKit
leaves them empty; buildah has no option for them. The config blob and the
manifest are rewritten and the image digest (the manifest's) is printed.

``python reproducible_image.py compare FIRST SECOND`` prints both digests and
exits 0 when they are equal. Otherwise it says what differs, then exits 1:
the config's fields, and for each differing layer the files only one build
has, the files whose type, mode, owner, size or content differ, and how many
differ only in their mtime.

Only the standard library: it runs with the host's python3 before any
virtual environment exists.
"""

import argparse
import hashlib
import json
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
# Enough lines per layer to find the cause; a full listing helps no one.
MAX_REPORT_LINES = 40


def blob(image: Path, digest: str) -> Path:
    """The file of a blob in a ``dir:`` layout (named by its hex digest)."""
    return image / digest.removeprefix("sha256:")


def image_digest(image: Path) -> str:
    """The image digest: the manifest's, as a registry would report it."""
    return "sha256:" + hashlib.sha256((image / MANIFEST).read_bytes()).hexdigest()


def normalise(image: Path) -> str:
    """Blank the builder's random ids in the config, rewrite it and the manifest; the digest."""
    manifest = json.loads((image / MANIFEST).read_text())
    old_config = blob(image, manifest["config"]["digest"])
    config = json.loads(old_config.read_bytes())
    config["container"] = ""
    for section in ("config", "container_config"):
        if isinstance(config.get(section), dict):
            config[section]["Hostname"] = ""
    data = json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    old_config.unlink()
    blob(image, digest).write_bytes(data)
    manifest["config"].update(digest=digest, size=len(data))
    (image / MANIFEST).write_text(json.dumps(manifest, separators=(",", ":")))
    return image_digest(image)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON document as ``{"a.b.c": leaf}``, so that two configs compare field by field."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def layer_listing(layer: Path) -> dict[str, tuple[str, str]]:
    """Each member of a layer tarball: path -> (type, mode, owner, size, content hash; mtime)."""
    listing = {}
    with tarfile.open(layer) as tar:
        for member in tar:
            content = "-"
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    content = hashlib.sha256(extracted.read()).hexdigest()[:16]
            target = f" -> {member.linkname}" if member.linkname else ""
            mtime = datetime.fromtimestamp(member.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            listing[member.name + target] = (
                f"type {member.type.decode()} mode {member.mode:o} owner {member.uid}:{member.gid} "
                f"size {member.size} sha256 {content}",
                mtime,
            )
    return listing


def describe_layer(first: Path, second: Path) -> list[str]:
    """The files two layer tarballs disagree on: missing, changed, and (counted) re-dated."""
    one, two = layer_listing(first), layer_listing(second)
    report = [f"  only in the first:  {path}" for path in sorted(one.keys() - two.keys())]
    report += [f"  only in the second: {path}" for path in sorted(two.keys() - one.keys())]
    common = sorted(one.keys() & two.keys())
    for path in common:
        if one[path][0] != two[path][0]:
            report += [f"  changed: {path}", f"    {one[path][0]}", f"    {two[path][0]}"]
    redated = [path for path in common if one[path][1] != two[path][1]]
    if redated:
        report.append(
            f"  {len(redated)} of {len(common)} files have another mtime, e.g. {redated[0]}: "
            f"{one[redated[0]][1]} != {two[redated[0]][1]}"
        )
    if len(report) > MAX_REPORT_LINES:
        report[MAX_REPORT_LINES:] = [f"  ... {len(report) - MAX_REPORT_LINES} more lines"]
    return report


def describe_differences(first: Path, second: Path) -> list[str]:
    """What differs between two images: config fields, then the files of each differing layer."""
    manifests = [json.loads((image / MANIFEST).read_text()) for image in (first, second)]
    configs = [
        flatten(json.loads(blob(image, manifest["config"]["digest"]).read_bytes()))
        for image, manifest in zip((first, second), manifests, strict=True)
    ]
    report = []
    for key in sorted(configs[0].keys() | configs[1].keys()):
        if key != "rootfs.diff_ids" and configs[0].get(key) != configs[1].get(key):
            report.append(f"config {key}: {configs[0].get(key)!r} != {configs[1].get(key)!r}")
    layers = [manifest["layers"] for manifest in manifests]
    if len(layers[0]) != len(layers[1]):
        report.append(f"layer count: {len(layers[0])} != {len(layers[1])}")
    for index, (one, two) in enumerate(zip(*layers, strict=False), start=1):
        if one["digest"] != two["digest"]:
            report.append(f"layer {index} differs: {one['digest']} != {two['digest']}")
            report += describe_layer(blob(first, one["digest"]), blob(second, two["digest"]))
    return report


def compare(first: Path, second: Path) -> int:
    """Print both digests; 0 when equal, else what differs and 1."""
    digests = image_digest(first), image_digest(second)
    print(f"first build:  {digests[0]}")
    print(f"second build: {digests[1]}")
    if digests[0] == digests[1]:
        print("reproducible: both builds have the same image digest")
        return 0
    print("NOT reproducible: the image digests differ", file=sys.stderr)
    for line in describe_differences(first, second):
        print(line, file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("normalise").add_argument("image", type=Path)
    pair = commands.add_parser("compare")
    pair.add_argument("first", type=Path)
    pair.add_argument("second", type=Path)
    args = parser.parse_args(argv[1:])
    if args.command == "normalise":
        print(normalise(args.image))
        return 0
    return compare(args.first, args.second)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
