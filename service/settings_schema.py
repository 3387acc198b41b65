"""The JSON Schema of config.json.

Regenerate with ``python -m service.settings_schema > config/config.schema.json``.
"""

import json
from typing import Any

from service.config_file import SCHEMA_KEY
from service.settings import Settings


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, generated from the Settings model."""
    schema = Settings.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    # The file may name its schema for editors; the loader ignores that key.
    schema["properties"] = {SCHEMA_KEY: {"type": "string"}, **schema["properties"]}
    return schema


def render_schema() -> str:
    """The schema as the text stored in config/config.schema.json."""
    return json.dumps(settings_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(render_schema(), end="")
