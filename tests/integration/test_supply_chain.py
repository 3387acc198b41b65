"""The supply chain: keys, a local registry, signed images with SBOM and provenance
attestations, and deployments that verify them first and refuse anything else."""

import base64
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from .docker_cli import LOOPBACK, PREFIX, ROOT, docker, free_port
from .registry_api import Registry

pytestmark = pytest.mark.integration

SCRIPT_TIMEOUT_SECONDS = 900
PUBLISHED = ("CALCULATOR_IMAGE", "CALCULATOR_PROXY_IMAGE")
PREDICATES = {
    "cyclonedx": "https://cyclonedx.org/bom",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
}
LOCKED_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
RUN_ID = os.getpid()


@dataclass(frozen=True)
class SupplyChain:
    """Keys, a registry and a published record, all in this test run's own places."""

    environment: dict[str, str]
    directory: Path
    registry: Registry
    cosign: str

    @property
    def record(self) -> dict[str, str]:
        """What `make publish` recorded: variable -> reference by digest."""
        text = Path(self.environment["PUBLISH_RECORD"]).read_text(encoding="utf-8")
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def run(self, script: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run a project script under this supply chain's settings."""
        return subprocess.run(
            [str(ROOT / script), *args],
            env={**self.environment, **extra},
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_SECONDS,
            check=False,
            cwd=ROOT,
        )

    def cosign_verify(self, *args: str) -> subprocess.CompletedProcess[str]:
        """cosign with the project's public key, as a user verifies by hand."""
        return subprocess.run(
            [
                self.cosign,
                *args,
                "--key",
                self.environment["CALCULATOR_PUBLIC_KEY"],
                "--insecure-ignore-tlog",
                "--allow-http-registry",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def statements(self, reference: str, kind: str) -> list[dict[str, Any]]:
        """The verified in-toto statements of type `kind` attached to `reference`."""
        verified = self.cosign_verify("verify-attestation", "--type", kind, reference)
        assert verified.returncode == 0, verified.stderr
        return [
            json.loads(base64.b64decode(json.loads(line)["payload"]))
            for line in verified.stdout.splitlines()
            if line.strip()
        ]


@pytest.fixture(scope="module")
def supply_chain(
    images: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupplyChain]:
    """A key pair, a registry on a free port, and both images published to it."""
    directory = tmp_path_factory.mktemp("supply-chain")
    port = free_port()
    environment = {
        **os.environ,
        "CALCULATOR_IMAGE": images[0],
        "CALCULATOR_PROXY_IMAGE": images[1],
        "CALCULATOR_KEYS_DIR": str(directory / "keys"),
        "CALCULATOR_PUBLIC_KEY": str(directory / "cosign.pub"),
        "REGISTRY_PORT": str(port),
        "REGISTRY_PROJECT": f"{PREFIX}-registry",
        "REGISTRY_VOLUME": f"{PREFIX}-registry-{RUN_ID}",
        "PUBLISH_RECORD": str(directory / "published.env"),
        "SCAN_REPORTS_DIR": str(directory / "reports"),
    }
    environment.pop("COSIGN_PASSWORD", None)
    environment.pop("COSIGN_PASSWORD_FILE", None)
    cosign = subprocess.run(
        [str(ROOT / "deploy/provision/cosign.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.strip()
    chain = SupplyChain(environment, directory, Registry(f"{LOOPBACK}:{port}"), cosign)
    try:
        keys = chain.run("deploy/supply-chain/make-keys.sh")
        assert keys.returncode == 0, keys.stderr
        published = chain.run("deploy/supply-chain/publish.sh")
        assert published.returncode == 0, published.stdout + published.stderr
        yield chain
    finally:
        chain.run("deploy/registry/registry.sh", "down")
        docker("volume", "rm", "--force", environment["REGISTRY_VOLUME"], check=False)


def deploy_from_registry(
    chain: SupplyChain, record: dict[str, str], project: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `make up`'s script with DEPLOY_FROM=registry on `record`; return it and the
    ids of every container the project then has."""
    path = chain.directory / f"{project}.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in record.items()))
    settings = {
        "DEPLOY_FROM": "registry",
        "PUBLISH_RECORD": str(path),
        "COMPOSE_PROJECT_NAME": project,
        "CALCULATOR_PORT": str(free_port()),
        "CALCULATOR_HEALTH_INTERVAL": "1s",
    }
    started = chain.run("deploy/scripts/up.sh", **settings)
    listed = docker(
        "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={project}"
    )
    return started, listed.stdout.split()


def compose_down(chain: SupplyChain, project: str) -> None:
    """Remove a project that deploy_from_registry started."""
    subprocess.run(
        ["docker", "compose", "--project-name", project, "down", "--volumes", "--timeout", "10"],
        env=chain.environment,
        capture_output=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


# --- keys --------------------------------------------------------------------------------


def test_private_key_is_encrypted_and_kept_private(supply_chain: SupplyChain) -> None:
    """The private key is encrypted, 0600 in a 0700 folder outside the repository; a
    second `make keys` keeps the pair instead of replacing it."""
    keys = Path(supply_chain.environment["CALCULATOR_KEYS_DIR"])
    private = keys / "cosign.key"
    assert (keys.stat().st_mode & 0o777, private.stat().st_mode & 0o777) == (0o700, 0o600)
    assert private.read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert not private.resolve().is_relative_to(ROOT)
    public = Path(supply_chain.environment["CALCULATOR_PUBLIC_KEY"])
    before = (private.read_bytes(), public.read_bytes())
    again = supply_chain.run("deploy/supply-chain/make-keys.sh")
    assert again.returncode == 0, again.stderr
    assert (private.read_bytes(), public.read_bytes()) == before


# --- what make publish leaves in the registry ---------------------------------------------


@pytest.mark.parametrize("variable", PUBLISHED)
def test_published_image_is_signed_and_attested(supply_chain: SupplyChain, variable: str) -> None:
    """cosign accepts the signature, the SBOM and the provenance of each published digest."""
    reference = supply_chain.record[variable]
    assert "@sha256:" in reference
    assert supply_chain.cosign_verify("verify", reference).returncode == 0
    digest = reference.split("@sha256:")[1]
    for kind, predicate_type in PREDICATES.items():
        (statement,) = supply_chain.statements(reference, kind)
        assert statement["predicateType"] == predicate_type
        assert [subject["digest"]["sha256"] for subject in statement["subject"]] == [digest]


def test_provenance_names_commit_base_and_locked_wheels(
    supply_chain: SupplyChain, image: str
) -> None:
    """The calculator's provenance carries the image's commit, its base and every wheel
    hash the lock allows."""
    (statement,) = supply_chain.statements(
        supply_chain.record["CALCULATOR_IMAGE"], "slsaprovenance1"
    )
    definition = statement["predicate"]["buildDefinition"]
    labels = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]["Labels"]
    revision = labels["org.opencontainers.image.revision"]
    source = definition["externalParameters"]["source"]
    assert source["digest"]["gitCommit"] == revision.removesuffix("-dirty")
    assert definition["externalParameters"]["dirty"] == revision.endswith("-dirty")
    dependencies = definition["resolvedDependencies"]
    assert (
        dependencies[0]["uri"] == f"docker-image://{labels['org.opencontainers.image.base.name']}"
    )
    lock = (ROOT / "deploy/requirements/runtime.txt").read_text(encoding="utf-8")
    assert {d["digest"]["sha256"] for d in dependencies[1:]} == set(LOCKED_HASH.findall(lock))


def test_sbom_attestation_describes_the_published_image(
    supply_chain: SupplyChain, image: str
) -> None:
    """The attested SBOM is Trivy's SBOM of this very image, Python packages included."""
    (statement,) = supply_chain.statements(supply_chain.record["CALCULATOR_IMAGE"], "cyclonedx")
    bom = statement["predicate"]
    properties = {p["name"]: p["value"] for p in bom["metadata"]["component"]["properties"]}
    image_id = json.loads(docker("image", "inspect", image).stdout)[0]["Id"]
    assert properties["aquasecurity:trivy:ImageID"] == image_id
    assert "flask" in {component["name"].lower() for component in bom["components"]}


# --- deploying from the registry ----------------------------------------------------------


def test_deploy_from_registry_runs_the_verified_digests(supply_chain: SupplyChain) -> None:
    """DEPLOY_FROM=registry verifies, then runs exactly the published digests."""
    project = f"{PREFIX}-from-registry"
    try:
        started, containers = deploy_from_registry(supply_chain, supply_chain.record, project)
        assert started.returncode == 0, started.stderr
        assert started.stderr.count("signature, SBOM and provenance verified") == len(PUBLISHED)
        running = {
            json.loads(docker("inspect", c).stdout)[0]["Config"]["Image"] for c in containers
        }
        assert running == set(supply_chain.record.values())
        url = started.stdout.strip().splitlines()[-1]
        assert requests.get(f"{url}livez", timeout=10).status_code == 200
    finally:
        compose_down(supply_chain, project)


def unsigned_copy(chain: SupplyChain, image: str, tag: str) -> str:
    """Push a changed copy of `image` to the registry as calculator-service:`tag`, unsigned."""
    target = f"{chain.registry.address}/calculator-service:{tag}"
    subprocess.run(
        ["docker", "build", "--quiet", "--tag", target, "-"],
        input=f"FROM {image}\nLABEL org.example.tampered=true\n",
        text=True,
        capture_output=True,
        timeout=300,
        check=True,
    )
    docker("push", "--quiet", target)
    return target


def unsigned_image(chain: SupplyChain, image: str) -> tuple[dict[str, str], str]:
    """A record naming an image that was pushed but never signed."""
    target = unsigned_copy(chain, image, f"unsigned-{RUN_ID}")
    return {**chain.record, "CALCULATOR_IMAGE": target}, "has no valid signature"


def retagged_image(chain: SupplyChain, image: str) -> tuple[dict[str, str], str]:
    """The published tag moved to a different image, with the real signature copied
    beside it: the signature names the digest it was made for, not the new one."""
    published = chain.record["CALCULATOR_IMAGE"]
    signed_digest = published.split("@")[1]
    tags = requests.get(
        f"http://{chain.registry.address}/v2/calculator-service/tags/list", timeout=30
    ).json()["tags"]
    (release,) = [t for t in tags if not t.startswith(("sha256-", "unsigned-"))]
    impostor = unsigned_copy(chain, image, release)
    impostor_digest = next(
        d
        for d in json.loads(docker("image", "inspect", impostor).stdout)[0]["RepoDigests"]
        if d.startswith(f"{chain.registry.address}/calculator-service@")
    ).split("@")[1]
    signature = chain.registry.manifest(
        "calculator-service", signed_digest.replace(":", "-") + ".sig"
    )
    chain.registry.put_manifest(
        "calculator-service", impostor_digest.replace(":", "-") + ".sig", signature
    )
    return {**chain.record, "CALCULATOR_IMAGE": impostor}, "has no valid signature"


def tampered_provenance(chain: SupplyChain, image: str) -> tuple[dict[str, str], str]:
    """The provenance attestation of the published digest, its statement edited in place
    (another commit) and its signature kept."""
    repository, digest = "calculator-service", chain.record["CALCULATOR_IMAGE"].split("@")[1]
    tag = digest.replace(":", "-") + ".att"
    manifest = chain.registry.manifest(repository, tag)
    (layer,) = [
        layer
        for layer in manifest["layers"]
        if layer["annotations"]["predicateType"] == PREDICATES["slsaprovenance1"]
    ]
    envelope = json.loads(chain.registry.blob(repository, layer["digest"]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["source"]["digest"] = {
        "gitCommit": "0" * 40
    }
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    content = json.dumps(envelope).encode()
    layer["digest"], layer["size"] = chain.registry.put_blob(repository, content), len(content)
    chain.registry.put_manifest(repository, tag, manifest)
    return chain.record, "has no valid SLSA provenance attestation"


@pytest.mark.parametrize(
    "tamper",
    [unsigned_image, retagged_image, tampered_provenance],
    ids=["unsigned", "retagged", "tampered-attestation"],
)
def test_deploy_refuses_what_was_not_published_as_signed(
    supply_chain: SupplyChain,
    image: str,
    tamper: Callable[[SupplyChain, str], tuple[dict[str, str], str]],
) -> None:
    """An unsigned image, a moved tag or an edited attestation stops the deployment with
    one line saying which image and why, before any container exists."""
    attestations = supply_chain.record["CALCULATOR_IMAGE"].split("@")[1].replace(":", "-") + ".att"
    original = supply_chain.registry.manifest("calculator-service", attestations)
    project = f"{PREFIX}-refused-{tamper.__name__.replace('_', '-')}"
    try:
        record, reason = tamper(supply_chain, image)
        refused, containers = deploy_from_registry(supply_chain, record, project)
        assert refused.returncode == 1
        (line,) = [line for line in refused.stderr.splitlines() if "REFUSED" in line]
        assert "CALCULATOR_IMAGE=" in line
        assert reason in line
        assert containers == []
    finally:
        supply_chain.registry.put_manifest("calculator-service", attestations, original)
        compose_down(supply_chain, project)
