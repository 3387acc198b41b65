"""Optional bearer API keys from a secret file."""

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.runtime.settings import ConfigurationError
from service.web.auth import ApiKeys, read_api_keys

KEY = "k3y-0123456789abcdef"
OTHER_KEY = "other-0123456789abcdef"


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-keys"
    path.write_text(f"# rotated monthly\n{KEY}\n\n{OTHER_KEY}\n")
    return path


@pytest.fixture
def protected(make_app: Callable[..., Flask], keys_file: Path) -> FlaskClient:
    return make_app(api_keys_file=keys_file).test_client()


def test_authentication_is_off_by_default(client: FlaskClient) -> None:
    """Without a keys file, calculations need no Authorization header."""
    assert client.get("/add?a=1&b=2").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-0123456789abcdef", f"Basic {KEY}", f"Bearer {KEY}x"],
)
def test_calculations_refuse_missing_or_wrong_keys(
    protected: FlaskClient, authorization: str | None
) -> None:
    """With keys configured, a missing or wrong key gets a 401 problem with a Bearer challenge."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = protected.get("/add?a=1&b=2", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_calculations_accept_any_configured_key(protected: FlaskClient, key: str) -> None:
    """Every key in the file is accepted; the scheme name is case-insensitive."""
    assert (
        protected.get("/add?a=1&b=2", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    assert (
        protected.post(
            "/evaluate", json=["1"], headers={"Authorization": f"bearer {key}"}
        ).status_code
        == 200
    )


@pytest.mark.parametrize("url", ["/livez", "/metrics", "/openapi.json"])
def test_operations_endpoints_stay_open(protected: FlaskClient, url: str) -> None:
    """Liveness, metrics and the API document need no key."""
    assert protected.get(url).status_code == 200


def test_keys_are_not_in_settings_dump(make_app: Callable[..., Flask], keys_file: Path) -> None:
    """Only the file's path is a setting; the keys themselves never appear in the settings."""
    app = make_app(api_keys_file=keys_file)
    assert KEY not in app.extensions["settings"].model_dump_json()


def test_api_keys_accept_only_exact_keys() -> None:
    """The comparison accepts the exact key only, not prefixes or extensions."""
    keys = ApiKeys(frozenset({KEY}))
    assert keys.accepts(f"Bearer {KEY}")
    assert not keys.accepts(f"Bearer {KEY[:-1]}")
    assert not keys.accepts(f"Bearer {KEY}0")
    assert not ApiKeys().enabled


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "holds no keys"),
        ("# only a comment\n", "holds no keys"),
        ("short\n", "shorter than 16"),
        ("  # an indented comment line\n", "line 1: an indented '#' line"),
        (f"{KEY}\n\tcomment-looking-0123456789\n#ok\n  #gone-astray-key-material\n", "line 4"),
        ("clé-secrète-de-seize-caractères\n", "line 1: a key with characters other than"),
        ("key with spaces inside 0123\n", "blanks inside"),
    ],
)
def test_unusable_keys_file_is_a_configuration_error(
    tmp_path: Path, content: str, message: str
) -> None:
    """An empty keys file or a weak key stops the service at start."""
    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        read_api_keys(path)


def test_missing_keys_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A keys file that cannot be read stops the service at start, naming the file."""
    with pytest.raises(ConfigurationError, match="absent-keys"):
        read_api_keys(tmp_path / "absent-keys")
    with pytest.raises(ConfigurationError, match="is a directory"):
        read_api_keys(tmp_path)
