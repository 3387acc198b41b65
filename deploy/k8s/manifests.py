"""Render the Kubernetes manifests with the project's own kubectl, and check them offline.

`make k8s-check` runs this file: it renders the production overlay into build/k8s/, then
validates every object against the schemas of the Kubernetes version below, and scans the
objects with `trivy config` and checkov. Each step must pass; every step runs, so one
run reports every problem. Exit status 0 when all pass, 1 otherwise.

The tools come from deploy/requirements/k8s.txt, installed by the Makefile into
.venv-k8s; trivy comes from the development environment, the same one `make lint` uses.
Nothing here needs a cluster or the network.
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The Makefile's K8S_VENV rule creates it from deploy/requirements/k8s.txt.
TOOLS = ROOT / ".venv-k8s" / "bin"
KUBECTL = TOOLS / "kubectl"
OVERLAY = ROOT / "deploy/k8s/overlays/production"
RENDERED = ROOT / "build/k8s" / f"{OVERLAY.name}.yaml"
# The cluster version the manifests must be valid for; kubernetes-validate bundles its schemas.
KUBERNETES_VERSION = "1.36.0"
# Findings accepted on purpose, each with its reason, for trivy; checkov needs none.
TRIVY_IGNOREFILE = ROOT / "deploy/k8s/.trivyignore.yaml"
STEP_TIMEOUT_SECONDS = 300


class ToolMissingError(RuntimeError):
    """A tool of the check is not installed where the project installs it."""


def tool(path: Path) -> str:
    """Return the tool's path as text, or say how to install it."""
    if not path.is_file():
        raise ToolMissingError(f"{path} is missing: `make k8s-check` installs it")
    return str(path)


def render_overlay(overlay: Path = OVERLAY) -> str:
    """Return the overlay rendered by the pinned kubectl's kustomize, as multi-document YAML."""
    rendered = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [tool(KUBECTL), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_SECONDS,
        check=False,
    )
    if rendered.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed: {rendered.stderr.strip()}")
    return rendered.stdout


def checks(manifest: Path) -> dict[str, list[str]]:
    """The check commands over the rendered manifest, by name."""
    trivy = shutil.which("trivy")
    if trivy is None:
        raise ToolMissingError("trivy is not on PATH: run through `make k8s-check`")
    return {
        "schemas": [
            tool(TOOLS / "kubernetes-validate"),
            "--strict",
            "--quiet",
            f"--kubernetes-version={KUBERNETES_VERSION}",
            str(manifest),
        ],
        "trivy config": [
            trivy,
            "config",
            "--quiet",
            "--skip-check-update",
            f"--ignorefile={TRIVY_IGNOREFILE}",
            "--exit-code=1",
            str(manifest.parent),
        ],
        "checkov": [
            tool(TOOLS / "checkov"),
            "--skip-download",
            "--quiet",
            "--compact",
            "--framework=kubernetes",
            f"--file={manifest}",
        ],
    }


def main() -> int:
    """Render, then run every check; report each outcome on its own line."""
    try:
        manifest_text = render_overlay()
        RENDERED.parent.mkdir(parents=True, exist_ok=True)
        for stale in RENDERED.parent.iterdir():
            stale.unlink()
        RENDERED.write_text(manifest_text, encoding="utf-8")
        commands = checks(RENDERED)
    except (ToolMissingError, RuntimeError) as error:
        print(f"k8s-check: {error}", file=sys.stderr)
        return 1
    print(f"k8s-check: rendered {OVERLAY.relative_to(ROOT)} into {RENDERED.relative_to(ROOT)}")
    failed = []
    for name, command in commands.items():
        result = subprocess.run(command, timeout=STEP_TIMEOUT_SECONDS, check=False)  # noqa: S603
        print(f"k8s-check: {name:<13} {'clean' if result.returncode == 0 else 'FAILED'}")
        if result.returncode != 0:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
