"""Users and personal API tokens for scenario H's HTTP clients: one user per client, so each has its
own per-user write budget and its own identity in the room.

Run as a subprocess with the target's DATABASE_URL (the database migrated):
``python -m bench.apitokens --count 32 --prefix h123``. Creates users ``<prefix>-0``... (no usable
password) and one token each with ``accounts.tokens.token_create``, as the tokens page would, and
prints one JSON object: ``{"users": [...], "tokens": [...]}``. Straight into the database: a
``POST /api/v1/tokens`` per client would need passwords (hashing is slow on purpose) and would run
into nothing but the login throttling, which is not what H measures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", required=True, help="usernames are <prefix>-<n>")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from accounts.tokens import token_create

    model = get_user_model()
    users, secrets = [], []
    for n in range(args.count):
        user = model(username=f"{args.prefix}-{n}")
        user.set_unusable_password()
        user.save()
        _token, secret = token_create(user, "bench H")
        users.append(user.get_username())
        secrets.append(secret)
    print(json.dumps({"users": users, "tokens": secrets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
