"""Scenario F's pool of unused uploads: each sender's uploads made through the API, copied until it
has enough for one per message of the run.

Run as a subprocess with the target's DATABASE_URL, after the API uploads:
``python -m bench.uploadpool --prefix f123 --count 200 --per-user 680``. For each user
``<prefix>-<n>`` it takes their unused uploads (made by ``POST .../uploads``: a real file, its
thumbnail, its row) and adds rows copying them (same room, name, size, type, dimensions and
thumbnail; a key of their own, with no file behind it: the send path reads the row, never the
file) until the user has ``--per-user``. Prints one JSON object: ``{"ids": [[...], ...]}``, each
user's upload ids in order. A copy is a row as ``uploads.services.upload_create`` writes it;
making each through the API (Pillow, two file writes, four queries) would take minutes for the
~100,000 a full run needs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", required=True, help="usernames are <prefix>-<n>")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--per-user", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
    import django

    django.setup()
    from uploads.models import Upload

    out: list[list[int]] = []
    for n in range(args.count):
        originals = list(
            Upload.objects.filter(user__username=f"{args.prefix}-{n}", message__isnull=True).order_by("pk")
        )
        if not originals:
            raise SystemExit(f"{args.prefix}-{n} has no upload to copy")
        copies = [
            Upload(
                user_id=o.user_id,
                room_id=o.room_id,
                name=o.name,
                size=o.size,
                content_type=o.content_type,
                width=o.width,
                height=o.height,
                key=f"{o.key}.copy{i}",
                thumbnail_key=o.thumbnail_key,
            )
            for i in range(max(0, args.per_user - len(originals)))
            for o in (originals[i % len(originals)],)
        ]
        made = Upload.objects.bulk_create(copies, batch_size=2000)
        out.append([o.pk for o in originals] + [c.pk for c in made])
    print(json.dumps({"ids": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
