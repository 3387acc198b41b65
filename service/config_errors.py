"""The one exception every bad-configuration case becomes."""


class ConfigurationError(Exception):
    """The service cannot start with this configuration; the message is one line for operators."""
