"""Serve the baseline with uvicorn and the same flags as ``parley.serve`` (HOST, PORT, WORKERS)."""

from __future__ import annotations

import os
import sys
from typing import Any


def uvicorn_options(default_port: int) -> dict[str, Any]:
    """The uvicorn settings of the Python peers (this baseline, ``bench.sio``): Parley's WebSocket
    implementation, frame limit and compression; HOST, PORT and WORKERS from the environment."""
    return {
        "host": os.environ.get("HOST", "127.0.0.1"),
        "port": int(os.environ.get("PORT", str(default_port))),
        "workers": int(os.environ.get("WORKERS", "1")),
        "ws": "websockets-sansio",
        "ws_max_size": 64 * 1024,
        "ws_per_message_deflate": False,
        "lifespan": "off",
        "log_level": os.environ.get("PARLEY_SERVER_LOG_LEVEL", "warning"),
        "access_log": False,
    }


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline.settings")
    import uvicorn

    uvicorn.run("bench.baseline.asgi:application", **uvicorn_options(8001))
    return 0


if __name__ == "__main__":
    sys.exit(main())
