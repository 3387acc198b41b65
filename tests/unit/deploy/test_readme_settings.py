"""The README documents every setting."""

from pathlib import Path

from service.runtime.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    """Each setting has a row in README's Settings table with its variable and default."""
    text = README.read_text()
    section = text[text.index("## Settings") : text.index("## Operations")]
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in section.splitlines()
        if line.startswith("| `")
    }
    for name, field in Settings.model_fields.items():
        assert name in rows, name
        assert f"`{ENV_PREFIX}{name.upper()}`" in rows[name]
        if field.default is not None:
            assert f"`{field.default}`" in rows[name], name
