"""Settings: source precedence, and every bad-configuration case failing fast in one line."""

import json
from pathlib import Path

import pytest

from service.runtime.settings import ConfigurationError, describe_config_source, load_settings


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.json"
    monkeypatch.setenv("CALCULATOR_CONFIG_FILE", str(path))
    return path


def write(path: Path, settings: dict[str, object]) -> None:
    path.write_text(json.dumps(settings))


def test_defaults_apply_without_file_or_environment() -> None:
    """Without a file at the default path and without variables, the defaults apply."""
    settings = load_settings()
    assert (settings.precision, settings.rounding, settings.max_batch_size) == (
        34,
        "ROUND_HALF_EVEN",
        100,
    )
    assert "not found; using defaults" in describe_config_source()


def test_file_overrides_defaults(config_file: Path) -> None:
    """A value in the config file replaces the default."""
    write(config_file, {"precision": 12})
    assert load_settings().precision == 12
    assert str(config_file) in describe_config_source()


def test_environment_overrides_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment variable replaces the config file's value; other file values stay."""
    write(config_file, {"precision": 12, "max_batch_size": 7})
    monkeypatch.setenv("CALCULATOR_PRECISION", "20")
    settings = load_settings()
    assert (settings.precision, settings.max_batch_size) == (20, 7)


def test_schema_key_in_file_is_allowed(config_file: Path) -> None:
    """The file may name its JSON Schema for editors."""
    write(config_file, {"$schema": "./config.schema.json", "precision": 9})
    assert load_settings().precision == 9


def fails_with(message: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    text = str(caught.value)
    assert "\n" not in text
    assert message in text
    return text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"precison": 5}', "unknown setting 'precison' (did you mean 'precision'?)"),
        ('{"precision": 5,}', "is not valid JSON"),
        ("", "is not valid JSON"),
        ('{"precision": 5, "precision": 6}', "duplicate key 'precision'"),
        ('{"precision": NaN}', "NaN is not a JSON number"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"precision": "many"}', "precision = 'many' from config file"),
        ('{"precision": 0}', "greater than or equal to 1"),
        ('{"precision": 5.5}', "precision = 5.5"),
        ('{"max_body_bytes": 1e9}', "max_body_bytes"),
        ('{"rounding": "ROUND_NEAREST"}', "rounding = 'ROUND_NEAREST'"),
        ('{"log_level": "LOUD"}', "log_level"),
        ('{"precision": true}', "precision = True from config file"),
        ('{"precision": "34"}', "precision = '34' from config file"),
        ('{"precision": 34.0}', "precision = 34.0 from config file"),
        ('{"precision": "1_000"}', "precision = '1_000' from config file"),
        ('{"max_compute_ms": 0}', "max_compute_ms = 0"),
        ('{"max_compute_ms": 10001}', "less than or equal to 10000"),
    ],
)
def test_bad_config_file_fails_with_one_line(config_file: Path, content: str, message: str) -> None:
    """Unknown keys, malformed JSON, wrong types and out-of-range values stop the start."""
    config_file.write_text(content)
    fails_with(message)


def test_non_utf8_config_file_fails(config_file: Path) -> None:
    """A file that is not UTF-8 text is refused."""
    config_file.write_bytes(b'{"precision": "\xff"}')
    fails_with("is not UTF-8")


def test_directory_at_config_path_fails(config_file: Path) -> None:
    """A directory (what Docker creates for a missing bind-mount source) is refused."""
    config_file.mkdir()
    fails_with("is a directory")


def test_directory_at_default_path_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even at the default path, a directory is an error, not a silent fallback."""
    monkeypatch.setattr("service.runtime.settings.DEFAULT_CONFIG_FILE", tmp_path)
    fails_with("is a directory")


def test_unreadable_config_file_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path that cannot be read is refused with the system's reason."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("CALCULATOR_CONFIG_FILE", str(blocker / "config.json"))
    fails_with("cannot be read: Not a directory")


def test_missing_explicit_config_file_fails(config_file: Path) -> None:
    """A file named by CALCULATOR_CONFIG_FILE must exist."""
    fails_with(f"{config_file} named by CALCULATOR_CONFIG_FILE does not exist")


def test_empty_config_file_variable_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty CALCULATOR_CONFIG_FILE is refused rather than read as the current directory."""
    monkeypatch.setenv("CALCULATOR_CONFIG_FILE", "")
    fails_with("CALCULATOR_CONFIG_FILE is set but empty")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "CALCULATOR_PRECISON",
            "5",
            "CALCULATOR_PRECISON (did you mean 'CALCULATOR_PRECISION'?)",
        ),
        ("CALCULATOR_WHATEVER", "1", "unknown environment variable CALCULATOR_WHATEVER"),
        ("CALCULATOR_PRECISION", "five", "precision = 'five' from CALCULATOR_PRECISION"),
        ("CALCULATOR_PRECISION", "1001", "less than or equal to 1000"),
        ("CALCULATOR_MAX_BATCH_SIZE", "-1", "max_batch_size = '-1' from CALCULATOR_MAX_BATCH_SIZE"),
        ("CALCULATOR_ROUNDING", "half_even", "rounding = 'half_even'"),
        ("CALCULATOR_PRECISION", "34.0", "precision = '34.0' from CALCULATOR_PRECISION"),
        ("CALCULATOR_PRECISION", "+34", "precision = '+34' from CALCULATOR_PRECISION"),
        ("CALCULATOR_PRECISION", " 34 ", "precision = ' 34 ' from CALCULATOR_PRECISION"),
        ("CALCULATOR_PRECISION", "1_000", "precision = '1_000' from CALCULATOR_PRECISION"),
        ("CALCULATOR_PRECISION", "0034", "precision = '0034' from CALCULATOR_PRECISION"),
        ("CALCULATOR_PRECISION", "true", "precision = 'true' from CALCULATOR_PRECISION"),
        ("CALCULATOR_MAX_BODY_BYTES", "1e5", "max_body_bytes = '1e5'"),
    ],
)
def test_bad_environment_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    """Misspelled variables and invalid values stop the start, naming the variable."""
    monkeypatch.setenv(name, value)
    fails_with(message)


def test_settings_are_immutable() -> None:
    """Settings cannot be changed after start-up."""
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.precision = 3


@pytest.mark.parametrize("value", ["0", "7", "100"])
def test_plain_whole_numbers_from_the_environment_are_read(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A whole number written plainly is the one integer form the environment accepts."""
    monkeypatch.setenv("CALCULATOR_MAX_EXPRESSION_DEPTH", value)
    if value == "0":
        fails_with("greater than or equal to 1")
    else:
        assert load_settings().max_expression_depth == int(value)
