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
# What filetype may call them (an animated PNG is "image/apng": Pillow's PNG, served as image/png).
_IMAGE_KINDS = frozenset({*IMAGE_TYPES.values(), "image/apng"})
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
    if kind in _IMAGE_KINDS:
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
    stored copy (EXIF orientation applied, metadata dropped: re-encoded; an animated GIF, PNG or
    WebP kept frame for frame, without its metadata chunks: ``strip_metadata``) and the
    thumbnail (of the first frame)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > max_pixels:  # from the header: nothing decoded yet
                raise InvalidFile(f"the image has more than {max_pixels:,} pixels")
            probe.verify()  # structure and checksums
        with Image.open(io.BytesIO(data)) as image:
            # A phone's JPEG with a second picture (a depth map, a preview) opens as MPO: a JPEG,
            # of which the first picture is kept.
            fmt = "JPEG" if image.format == "MPO" else image.format
            if fmt not in IMAGE_TYPES:
                raise InvalidFile(f"images of format {image.format} are not accepted")
            animated = fmt != "JPEG" and bool(getattr(image, "is_animated", False))
            image.load()  # every pixel (of the first frame): a truncated file fails here
            # An animated image keeps its frames as sent, so it is shown as stored, unrotated.
            upright = image if animated else (ImageOps.exif_transpose(image) or image)
            stored = strip_metadata(data if animated else _without_metadata(upright, fmt), fmt)
            thumbnail = _thumbnail(upright)
            width, height = upright.size
            frames = int(getattr(image, "n_frames", 1)) if animated else 1
        _check_same(stored, fmt, (width, height), frames=frames)
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


def _check_same(stored: bytes, fmt: str, size: tuple[int, int], *, frames: int) -> None:
    """The stored copy is the same image: its format, its size and its frames."""
    with Image.open(io.BytesIO(stored)) as again:
        if again.format != fmt or again.size != size or getattr(again, "n_frames", 1) != frames:
            raise InvalidFile("the image's structure cannot be read")


def _thumbnail(image: Image.Image) -> bytes:
    small = image.convert("RGBA") if image.mode in ("P", "LA", "PA") else image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    small.save(out, "WEBP", quality=80)
    return out.getvalue()


# --- Metadata in the containers' own structure ------------------------------------------------------
# What a re-encoding leaves (Pillow writes a GIF's comment back) and what an animated image, kept
# as sent, carries: EXIF (GPS), XMP, ICC profiles, text and comments. The stored copy keeps only
# the chunks and blocks that draw the image.

# PNG: the critical chunks, APNG's frames, and what colours and transparency need.
_PNG_KEEP = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"acTL",
        b"fcTL",
        b"fdAT",
        b"gAMA",
        b"cHRM",
        b"sRGB",
        b"sBIT",
        b"bKGD",
    }
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# WebP: the bitstreams, alpha, animation; VP8X's flags for ICC (0x20), EXIF (0x08) and XMP (0x04).
_WEBP_KEEP = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})
_WEBP_METADATA_FLAGS = 0x20 | 0x08 | 0x04
# GIF: the application extensions that only say how often an animation loops.
_GIF_LOOPS = frozenset({b"NETSCAPE2.0", b"ANIMEXTS1.0"})


def strip_metadata(data: bytes, fmt: str) -> bytes:
    """``data`` (a PNG, WebP or GIF; a JPEG is returned as is: ``_without_metadata`` re-encoded it)
    without its metadata chunks or blocks. InvalidFile for a structure that ends too soon."""
    try:
        if fmt == "PNG":
            return _strip_png(data)
        if fmt == "WEBP":
            return _strip_webp(data)
        if fmt == "GIF":
            return _strip_gif(data)
    except (IndexError, ValueError) as exc:
        raise InvalidFile(f"the image's structure cannot be read ({exc})") from None
    return data


def _strip_png(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    kept, at = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while True:
        if at + 12 > len(data):
            raise ValueError("a chunk ends too soon")
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise ValueError("a chunk ends too soon")
        if kind in _PNG_KEEP:
            kept.append(data[at:end])
        at = end
        if kind == b"IEND":
            return b"".join(kept)


def _strip_webp(data: bytes) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("no RIFF WEBP header")
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    kept, at = [], 12
    while at < end:
        if at + 8 > end:
            raise ValueError("a chunk ends too soon")
        kind = data[at : at + 4]
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        stop = at + 8 + size + (size & 1)
        if at + 8 + size > end:
            raise ValueError("a chunk ends too soon")
        chunk = data[at : min(stop, end)]
        if kind == b"VP8X":
            chunk = chunk[:8] + bytes([chunk[8] & ~_WEBP_METADATA_FLAGS & 0xFF]) + chunk[9:]
        if kind in _WEBP_KEEP:
            kept.append(chunk + (b"\x00" if len(chunk) & 1 else b""))
        at = stop
    body = b"WEBP" + b"".join(kept)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _gif_sub_blocks(data: bytes, at: int) -> int:
    """Where the sub-blocks starting at ``at`` end (after their 0 terminator)."""
    while True:
        size = data[at]
        at += 1 + size
        if size == 0:
            if at > len(data):
                raise ValueError("a block ends too soon")
            return at


def _gif_table(packed: int) -> int:
    return 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0


def _strip_gif(data: bytes) -> bytes:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError("no GIF header")
    at = 13 + _gif_table(data[10])
    kept = [data[:at]]
    while at < len(data):
        kind = data[at]
        if kind == 0x3B:  # the trailer
            break
        if kind == 0x2C:  # an image: its descriptor, local colour table, LZW code size, data
            start = at
            at += 10 + _gif_table(data[at + 9])
            at = _gif_sub_blocks(data, at + 1)
            kept.append(data[start:at])
        elif kind == 0x21:  # an extension: keep graphic control, plain text, and loop counts
            start, label = at, data[at + 1]
            at = _gif_sub_blocks(data, at + 2)
            application = data[start + 3 : start + 14] if label == 0xFF and data[start + 2] == 11 else b""
            if label in (0xF9, 0x01) or application in _GIF_LOOPS:
                kept.append(data[start:at])
        else:
            raise ValueError(f"unknown GIF block 0x{kind:02x}")
    kept.append(b"\x3b")
    return b"".join(kept)
