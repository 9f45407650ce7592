"""Scenario F's pure parts (bench.attachplan): the pool's size, which uploads a message takes, the PNG."""

import io

import pytest
from PIL import Image

from bench.attachplan import MIN_POOL, SLACK_S, UploadPool, pool_size, sample_png

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_pool_size_covers_the_most_a_sender_could_send():
    assert pool_size(200, 15.0, max_rate=8000) == 8000 * (15 + SLACK_S) / 200
    assert pool_size(50, 3.0, per_message=2, max_rate=8000) == 2 * 8000 * (3 + SLACK_S) / 50
    assert pool_size(10_000, 1.0) == MIN_POOL
    assert pool_size(10, 1.0, per_message=0) == 0
    with pytest.raises(ValueError):
        pool_size(0, 1.0)


def test_each_message_takes_its_own_uploads_until_the_pool_is_used_up():
    pool = UploadPool([[1, 2, 3, 4, 5], [10, 11]], per_message=2)
    assert pool.take(0, 0) == [1, 2]
    assert pool.take(0, 1) == [3, 4]
    assert pool.take(0, 2) is None  # one left: not enough for a message
    assert pool.take(1, 0) == [10, 11]
    assert pool.take(1, 1) is None
    assert len(pool) == 7
    single = UploadPool([[7, 8]])
    assert [single.take(0, n) for n in range(3)] == [[7], [8], None]


def test_sample_png_is_a_small_image_pillow_reads():
    data = sample_png()
    assert data.startswith(b"\x89PNG")
    assert 500 < len(data) < 2048
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    assert sample_png() == data  # the same bytes every run
