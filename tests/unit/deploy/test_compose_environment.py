"""compose.yaml passes every setting through to the service, and nothing else."""

import re
from pathlib import Path

from service.runtime.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[3]

# Delivered by deploy/compose.api-keys.yaml together with the secret it names.
SET_BY_THE_API_KEYS_OVERRIDE = {"api_keys_file"}


def passed_through_variables(compose_text: str) -> set[str]:
    """The names in the service's `environment:` list (the `- NAME` form)."""
    after_key = compose_text.split("    environment:\n", 1)[1]
    block = after_key.split("\n    read_only:", 1)[0]
    return set(re.findall(r"^      - ([A-Z_][A-Z0-9_]*)$", block, re.MULTILINE))


def test_every_setting_can_be_overridden_through_compose() -> None:
    """A setting added to the model is also listed in compose.yaml's environment."""
    expected = {
        ENV_PREFIX + name.upper()
        for name in Settings.model_fields
        if name not in SET_BY_THE_API_KEYS_OVERRIDE
    }
    listed = passed_through_variables((ROOT / "compose.yaml").read_text())
    assert expected - listed == set()


def test_compose_passes_no_unknown_setting() -> None:
    """Every CALCULATOR_* name compose passes is a real setting (the service refuses others)."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    listed = passed_through_variables((ROOT / "compose.yaml").read_text())
    assert {name for name in listed if name.startswith(ENV_PREFIX)} - known == set()
