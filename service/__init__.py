"""An HTTP calculator with exact decimal arithmetic."""

from service.app import create_app

__all__ = ["create_app"]
