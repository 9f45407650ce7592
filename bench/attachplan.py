"""Scenario F's pure logic: the image each sender uploads, how many uploads a sender needs for the
run, and which of them its ``n``-th message carries.

An upload can be attached to one message only, so every message of F needs an upload of its own,
made before the load: a few through the API (``POST /api/v1/rooms/<room>/uploads``, timed: the
upload path's own numbers), the rest copies of those rows (``bench.uploadpool``). The pool is sized
for the most messages a sender could send; a sender that still runs out sends without an
attachment, and F counts those (``unattached``, target 0).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence

# The most messages per second all of F's senders together could send: B stores 2,000-3,000 a
# second on the 2-core VM, D (4 in flight per sender) ~3,100.
MAX_MESSAGES_PER_S = 8000
MIN_POOL = 50  # uploads per sender, at least
SLACK_S = 2.0  # seconds of sending beyond warm-up + measurement (the last round trips)


def pool_size(senders: int, seconds: float, per_message: int = 1, max_rate: float = MAX_MESSAGES_PER_S) -> int:
    """Uploads one sender needs to attach ``per_message`` to each message it sends in ``seconds``
    (warm-up + measured), were all ``senders`` together to send ``max_rate`` messages a second."""
    if senders <= 0:
        raise ValueError("senders must be > 0")
    if per_message <= 0:
        return 0
    messages = max(MIN_POOL, math.ceil(max_rate * (seconds + SLACK_S) / senders))
    return messages * per_message


class UploadPool:
    """Each sender's upload ids, in order; message ``n`` of a sender takes the ``per_message`` ids
    after those of messages ``0..n-1``."""

    def __init__(self, ids: Sequence[Sequence[int]], per_message: int = 1) -> None:
        self.ids = [list(x) for x in ids]
        self.per_message = per_message

    def take(self, sender: int, n: int) -> list[int] | None:
        """The ids message ``n`` of ``sender`` carries; None when the sender's pool is used up."""
        start = n * self.per_message
        got = self.ids[sender][start : start + self.per_message]
        return got if len(got) == self.per_message else None

    def __len__(self) -> int:
        return sum(len(x) for x in self.ids)


def sample_png(size: int = 28) -> bytes:
    """A small PNG (about 1 KiB), a gradient with some noise: what Pillow decodes, measures and
    thumbnails like a screenshot, only small."""
    from PIL import Image

    noise = random.Random(size)
    image = Image.new("RGB", (size, size))
    image.putdata(
        [
            ((x * 255) // size, (y * 255) // size, noise.randrange(256) if (x + y) % 3 == 0 else 128)
            for y in range(size)
            for x in range(size)
        ]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
