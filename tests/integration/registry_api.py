"""The OCI distribution API of the local registry, as the supply-chain tests tamper with it.

Only what an attacker with push access does: read and write manifests and blobs.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TIMEOUT = 30


@dataclass(frozen=True)
class Registry:
    """A registry at http://`address` (host:port), repositories by name."""

    address: str

    def _url(self, repository: str, path: str) -> str:
        return f"http://{self.address}/v2/{repository}/{path}"

    def manifest(self, repository: str, reference: str) -> dict[str, Any]:
        """The OCI manifest `reference` (tag or digest) of `repository`."""
        answer = requests.get(
            self._url(repository, f"manifests/{reference}"),
            headers={"Accept": OCI_MANIFEST},
            timeout=TIMEOUT,
        )
        answer.raise_for_status()
        document: dict[str, Any] = answer.json()
        return document

    def put_manifest(self, repository: str, reference: str, manifest: dict[str, Any]) -> None:
        """Store `manifest` under the tag `reference`, replacing what it named."""
        requests.put(
            self._url(repository, f"manifests/{reference}"),
            data=json.dumps(manifest).encode(),
            headers={"Content-Type": manifest.get("mediaType", OCI_MANIFEST)},
            timeout=TIMEOUT,
        ).raise_for_status()

    def blob(self, repository: str, digest: str) -> bytes:
        """The blob `digest` of `repository`."""
        answer = requests.get(self._url(repository, f"blobs/{digest}"), timeout=TIMEOUT)
        answer.raise_for_status()
        return answer.content

    def put_blob(self, repository: str, content: bytes) -> str:
        """Upload `content` as a blob of `repository` (monolithic upload); return its digest."""
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        started = requests.post(self._url(repository, "blobs/uploads/"), timeout=TIMEOUT)
        started.raise_for_status()
        location = started.headers["Location"]
        if location.startswith("/"):
            location = f"http://{self.address}{location}"
        separator = "&" if "?" in location else "?"
        requests.put(
            f"{location}{separator}digest={digest}",
            data=content,
            headers={"Content-Type": "application/octet-stream"},
            timeout=TIMEOUT,
        ).raise_for_status()
        return digest
