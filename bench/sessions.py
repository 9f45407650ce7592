"""Django sessions for scenario M's senders: a guest edits and deletes only with the session it posted from.

Run as a subprocess with the target's DATABASE_URL (the database migrated):
``python -m bench.sessions --count 100``. Creates that many empty sessions with the configured
session engine, as the room page's guest-name form would, and prints one JSON object:
``{"cookie": <session cookie name>, "keys": [...]}``. Much cheaper than a page request and a form
post per sender through the server under test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import import_module


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
    import django

    django.setup()
    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for _ in range(args.count):
        session = store()
        session.create()
        keys.append(session.session_key)
    print(json.dumps({"cookie": settings.SESSION_COOKIE_NAME, "keys": keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
