"""Command line: ``python -m service check-config`` validates the configuration and exits.

Exit status 0 and a summary when the service would start; otherwise the same one
line the service prints when it refuses to start, and status 78 (EX_CONFIG).
"""

import argparse
import sys

from service.runtime.logs import EX_CONFIG, configuration_error_line
from service.runtime.settings import ConfigurationError, describe_config_source, load_settings
from service.web.auth import read_api_keys


def check_config() -> int:
    """Load the settings and the API keys as the service would; report the outcome."""
    try:
        settings = load_settings()
        read_api_keys(settings.api_keys_file)
    except ConfigurationError as error:
        print(configuration_error_line(error), file=sys.stderr)
        return EX_CONFIG
    print(describe_config_source())
    print(settings.model_dump_json(indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-config", help="validate settings, config file and API keys")
    parser.parse_args(argv)
    return check_config()


if __name__ == "__main__":
    sys.exit(main())
