"""Container health check without curl: ``python -m service.runtime.healthcheck``.

Exits 0 if GET http://127.0.0.1:$PORT/livez answers 200 within 2 seconds, else 1.
Standard library only, so it starts fast and needs nothing the image lacks.
"""

import http.client
import os
import sys

TIMEOUT_SECONDS = 2.0


def is_alive(port: int, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Whether the service on 127.0.0.1:``port`` answers /livez with 200 in time."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/livez")
        return connection.getresponse().status == http.client.OK
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def main() -> int:
    """Probe the port named by PORT (default 8000); return the exit status."""
    port = os.environ.get("PORT", "8000")
    if not port.isdigit():
        print(f"healthcheck: PORT={port!r} is not a port number", file=sys.stderr)
        return 1
    return 0 if is_alive(int(port)) else 1


if __name__ == "__main__":
    sys.exit(main())
