"""What an uploaded file is, from its bytes: its type (never the client's word for it), an image's
size and thumbnail, and the bytes to store (an image without its EXIF: a phone's screenshot must
not carry where its owner lives). Pure functions on bytes: no storage, no database.

An image is a PNG, a JPEG, a GIF or a WebP that Pillow decodes whole. A decompression bomb (more
than ``PARLEY_UPLOAD_MAX_PIXELS``), a truncated image, or a file named as an image (``.png``...)
whose bytes are no image: ``InvalidFile``.
"""

from __future__ import annotations

import dataclasses
import io
import unicodedata

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

# Images shown inline (and thumbnailed); every other type is served as an attachment.
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp"})
THUMBNAIL_SIDE = 400  # the longest side of a thumbnail, pixels

# Pillow's own bomb check warns at open and fails past twice its limit; ours (``inspect``'s
# ``max_pixels``, from the header, before any pixel is decoded) comes first, so Pillow's is off.
Image.MAX_IMAGE_PIXELS = None
MAX_NAME_CHARS = 200


class InvalidFile(ValueError):
    """The file is not what it claims, or cannot be read: ``invalid_file``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Inspected:
    content_type: str
    data: bytes  # what to store (an image: re-encoded without its metadata, orientation applied)
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None  # a WebP, longest side THUMBNAIL_SIDE


def safe_name(raw: str) -> str:
    """A file name fit for a URL's last segment and a Content-Disposition: no path, no control or
    format character, no leading dot, NFC, at most MAX_NAME_CHARS (the extension kept)."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in '"<>|*?:')
    name = " ".join(name.split()).lstrip(". ")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = (stem if dot else name)[: MAX_NAME_CHARS - len(ext) - 1] + (f".{ext}" if ext else "")
    return name or "file"


def _extension(name: str) -> str:
    stem, dot, ext = name.lower().rpartition(".")
    return f".{ext}" if dot and stem else ""


def inspect(name: str, data: bytes, *, max_pixels: int) -> Inspected:
    """What ``data`` is (``name`` only tells whether it claims to be an image)."""
    kind = filetype.guess_mime(data)
    if kind in IMAGE_TYPES.values():
        return _image(data, max_pixels=max_pixels)
    if _extension(name) in IMAGE_EXTENSIONS:
        raise InvalidFile(f"{name!r} is named as an image, but its bytes are not one Parley can show")
    if kind is None:
        kind = _text_or_binary(data)
    return Inspected(content_type=kind, data=data)


def _text_or_binary(data: bytes) -> str:
    """Bytes filetype does not know: UTF-8 text without NUL is text, else binary."""
    head = data[:65536]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not merely a character cut at the end of the sample
                return "application/octet-stream"
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _image(data: bytes, *, max_pixels: int) -> Inspected:
    """Decode the whole image (a truncated one fails), refuse a bomb before decoding it, make the
    stored copy (EXIF orientation applied, metadata dropped: re-encoded; an animated GIF or WebP
    kept as sent, its metadata being frames, not places) and the thumbnail."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > max_pixels:  # from the header: nothing decoded yet
                raise InvalidFile(f"the image has more than {max_pixels:,} pixels")
            probe.verify()  # structure and checksums
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_TYPES:
                raise InvalidFile(f"images of format {image.format} are not accepted")
            fmt = image.format
            animated = bool(getattr(image, "is_animated", False))
            image.load()  # every pixel: a truncated file fails here
            upright = ImageOps.exif_transpose(image) or image
            stored = data if animated else _without_metadata(upright, fmt)
            thumbnail = _thumbnail(upright)
            width, height = upright.size
    except InvalidFile:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise InvalidFile(f"the image cannot be read ({type(exc).__name__})") from None
    return Inspected(content_type=IMAGE_TYPES[fmt], data=stored, width=width, height=height, thumbnail=thumbnail)


def _without_metadata(image: Image.Image, fmt: str) -> bytes:
    """The image again in its own format, with no EXIF, XMP, ICC or text chunk (GPS lives there)."""
    out = io.BytesIO()
    if fmt == "JPEG":
        rgb = image if image.mode in ("RGB", "L", "CMYK") else image.convert("RGB")
        rgb.save(out, "JPEG", quality=92, optimize=True)
    elif fmt == "PNG":
        image.save(out, "PNG", optimize=False)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=90)
    else:  # GIF
        image.save(out, "GIF")
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    small = image.convert("RGBA") if image.mode in ("P", "LA", "PA") else image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    small.save(out, "WEBP", quality=80)
    return out.getvalue()
