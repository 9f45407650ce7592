"""Images: dimensions and a 400 px WebP thumbnail made at upload, EXIF orientation applied, GPS and
every other EXIF field, and PNG text chunks, gone from the stored file; a decompression bomb, a
file named as an image that is not one, a truncated image: 400 ``invalid_file`` and nothing stored."""

from __future__ import annotations

import io

from PIL import Image

from tests.uploads.kit import (
    Db,
    animated_gif,
    bomb_png,
    call,
    exif_of,
    jpeg,
    png,
    png_with_text,
    stored_files,
    text_bytes,
    upload,
    uploads_path,
    webp,
    with_metadata,
)


def fetch(live, url, token) -> bytes:
    answer = call(live.http, "GET", url, token=token)
    assert answer.status == 200, (url, answer.status, answer.body[:300])
    return answer.body


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_dimensions_and_a_webp_thumbnail_of_400_px(live, accounts, room):
    alice = accounts.new()
    for name, data, size, thumb in [
        ("wide.png", png(1200, 300), (1200, 300), (400, 100)),
        ("tall.webp", webp(200, 900), (200, 900), (89, 400)),
        ("small.png", png(120, 80), (120, 80), (120, 80)),  # never enlarged
    ]:
        got = upload(live.http, uploads_path(room), name, data, token=alice.token).json
        assert (got["width"], got["height"]) == size, name
        thumbnail = opened(fetch(live, got["thumbnail_url"], alice.token))
        assert thumbnail.format == "WEBP"
        assert thumbnail.size == thumb, name
        assert max(thumbnail.size) <= 400
        stored = opened(fetch(live, got["url"], alice.token))
        assert stored.size == size


def test_exif_orientation_is_applied(live, accounts, room):
    """Orientation 6 (rotate 90 degrees clockwise to show): a 120 x 80 sensor image is 80 x 120."""
    alice = accounts.new()
    got = upload(live.http, uploads_path(room), "phone.jpg", jpeg(120, 80, orientation=6), token=alice.token).json
    assert (got["content_type"], got["width"], got["height"]) == ("image/jpeg", 80, 120)
    stored = opened(fetch(live, got["url"], alice.token))
    assert stored.size == (80, 120)
    assert stored.getexif().get(0x0112) in (None, 1)  # nothing left to rotate it again
    # The yellow mark of the sensor's top-left corner is now at the top right.
    assert stored.getpixel((75, 3))[2] < 100 and stored.getpixel((3, 3))[2] > 150
    thumbnail = opened(fetch(live, got["thumbnail_url"], alice.token))
    assert thumbnail.size == (80, 120)


def test_gps_and_other_exif_are_stripped_from_a_jpeg(live, accounts, room):
    alice = accounts.new()
    sent = jpeg(64, 64, gps=True)
    assert 0x8825 in exif_of(sent) and b"SecretPhone" in sent  # the test image has them
    got = upload(live.http, uploads_path(room), "home.jpg", sent, token=alice.token).json
    stored = fetch(live, got["url"], alice.token)
    assert stored[:2] == b"\xff\xd8"
    assert exif_of(stored) == {}
    assert b"Exif" not in stored and b"SecretPhone" not in stored and b"2026:11:01" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert "exif" not in image.info and image.getexif().get_ifd(0x8825) == {}
    assert b"Exif" not in fetch(live, got["thumbnail_url"], alice.token)


def test_png_text_chunks_are_stripped(live, accounts, room):
    alice = accounts.new()
    sent = png_with_text()
    assert b"secret-comment-text" in sent
    got = upload(live.http, uploads_path(room), "chart.png", sent, token=alice.token).json
    stored = fetch(live, got["url"], alice.token)
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
        assert chunk not in stored
    assert b"secret" not in stored
    assert opened(stored).text == {}


def test_an_animated_gif_is_kept_as_sent_with_a_first_frame_thumbnail(live, accounts, room):
    alice = accounts.new()
    sent = animated_gif(frames=3)
    got = upload(live.http, uploads_path(room), "dance.gif", sent, token=alice.token).json
    assert (got["content_type"], got["width"], got["height"]) == ("image/gif", 40, 30)
    assert fetch(live, got["url"], alice.token) == sent
    thumbnail = opened(fetch(live, got["thumbnail_url"], alice.token))
    assert thumbnail.format == "WEBP" and thumbnail.size == (40, 30)
    assert getattr(thumbnail, "n_frames", 1) == 1


def test_animated_images_keep_their_frames_but_not_their_metadata(live, accounts, room):
    """An animated PNG, WebP or GIF is kept frame for frame, without its EXIF (GPS), XMP, text
    chunks or comments."""
    alice = accounts.new()
    for fmt, name, kind in [
        ("PNG", "moving.png", "image/png"),
        ("WEBP", "moving.webp", "image/webp"),
        ("GIF", "moving.gif", "image/gif"),
    ]:
        sent = with_metadata(fmt, frames=3)
        got = upload(live.http, uploads_path(room), name, sent, token=alice.token).json
        assert (got["content_type"], got["width"], got["height"]) == (kind, 30, 20), (fmt, got)
        stored = fetch(live, got["url"], alice.token)
        assert b"Secret" not in stored and b"Exif" not in stored, fmt
        with Image.open(io.BytesIO(stored)) as again, Image.open(io.BytesIO(sent)) as before:
            assert again.format == fmt and again.n_frames == 3
            for frame in range(3):
                again.seek(frame)
                before.seek(frame)
                assert again.convert("RGB").tobytes() == before.convert("RGB").tobytes(), (fmt, frame)


def test_still_images_lose_every_kind_of_metadata(live, accounts, room):
    alice = accounts.new()
    for fmt, name in [("JPEG", "still.jpg"), ("PNG", "still.png"), ("WEBP", "still.webp"), ("GIF", "still.gif")]:
        got = upload(live.http, uploads_path(room), name, with_metadata(fmt, frames=1), token=alice.token).json
        assert got["width"] == 30, (fmt, got)
        stored = fetch(live, got["url"], alice.token)
        assert b"Secret" not in stored, fmt


def test_a_phones_two_picture_jpeg_is_a_jpeg_without_exif(live, accounts, room):
    """A JPEG with a second picture (MPO: a depth map, a preview) is a JPEG: its first picture,
    re-encoded without EXIF."""
    alice = accounts.new()
    got = upload(live.http, uploads_path(room), "portrait.jpg", with_metadata("MPO", frames=2), token=alice.token)
    assert got.status == 201, got.body
    assert (got.json["content_type"], got.json["width"]) == ("image/jpeg", 30)
    stored = fetch(live, got.json["url"], alice.token)
    assert b"Secret" not in stored and exif_of(stored) == {}
    assert Image.open(io.BytesIO(stored)).format == "JPEG"


def test_bad_images_are_invalid_file_and_nothing_is_stored(live, accounts, media_farm, room):
    alice = accounts.new()
    whole_png, whole_jpeg = png(300, 200), jpeg(300, 200)
    cases = {
        "bomb.png": bomb_png(50_000, 50_000),
        "notes.png": text_bytes(),  # named as an image, bytes are text
        "photo.jpg": b"GIF89a but not really" + bytes(100),
        "cut.png": whole_png[: len(whole_png) // 2],
        "cut.jpg": whole_jpeg[: len(whole_jpeg) // 2],
        "no-end.png": whole_png[:-12],  # the IEND chunk missing
        "cut.gif": animated_gif(3)[:-40],  # the last frame cut
        "cut-moving.png": with_metadata("PNG", frames=3)[:-30],
    }
    db = Db(media_farm)
    rows, files = db.upload_ids(), stored_files(media_farm.media)
    for name, data in cases.items():
        answer = upload(live.http, uploads_path(room), name, data, token=alice.token, content_type="image/png")
        assert (answer.status, answer.code) == (400, "invalid_file"), (name, answer.body)
        assert answer.json["error"]["detail"]
    assert db.upload_ids() == rows
    assert stored_files(media_farm.media) == files
    # The same user may go on uploading (a refusal costs nothing but its place in the minute's count).
    assert upload(live.http, uploads_path(room), "fine.png", whole_png, token=alice.token).status == 201
