"""Images a message carries: read once from their bytes (the type from the content, never from a name or a
declared type), downscaled to each provider's documented maximum when sent, and counted by its documented formula.

A budget holds what a request can be billed before it is sent (core.usage.budget), so the counts here are upper
bounds for the size actually sent: OpenAI's tile formula (the mini models' multipliers where they apply),
Anthropic's pixels / 750, and for an OpenAI-compatible server (whose model may cut an image into patches as small
as 16 pixels) the larger of OpenAI's count and one token per 16-pixel patch.
"""

from __future__ import annotations

import base64
import io
import math
import threading
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image as Pillow
from PIL import ImageOps, UnidentifiedImageError

from core.errors import ValidationError
from core.i18n import Msg

MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
Detail = Literal["auto", "low", "high"]


@dataclass(frozen=True)
class Image:
    """An image as it was given (its bytes, its type read from them, its size in pixels)."""

    media_type: str
    data: bytes
    width: int
    height: int
    detail: Detail = "auto"  # OpenAI's detail level, as an API client asked (others have none)

    @property
    def label(self) -> str:
        """How the image reads where a conversation is kept as text."""
        return f"[image {self.width}×{self.height} {self.media_type.removeprefix('image/').upper()}]"


def looks_like_image(data: bytes) -> bool:
    """The bytes start as an image file does (PNG, JPEG, GIF, WebP, BMP, TIFF): read as one, never as a document."""
    return data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP")


# What is kept of an image: at most this size, which loses nothing any provider here reads (OpenAI's 2048 × 768,
# Anthropic's 1.15 megapixels are both inside it); later turns and fallbacks scale from it cheaply.
WORKING_EDGE, WORKING_PIXELS = 2048, 1_600_000
# Images decoded at once in this process: each may take a few hundred MB while it decodes.
_DECODING = threading.BoundedSemaphore(2)
# Pillow warns of a decompression bomb from its header (above 89 megapixels) and refuses one twice that size: both
# are a refusal here (set once for the process: warnings.catch_warnings is not safe across threads).
warnings.filterwarnings("error", category=Pillow.DecompressionBombWarning)


def read_image(data: bytes, *, max_bytes: int, max_pixels: int, detail: Detail = "auto") -> Image:
    """The image in data (PNG, JPEG, WebP or GIF, read from its content), turned upright (EXIF), its first frame if
    animated, and within the working size (WORKING_EDGE, WORKING_PIXELS: its own bytes when it already is all of
    that); ValidationError saying why it is not one this server takes: too large in bytes or in pixels (a
    decompression bomb is refused from its header, before it is decoded), another type, or not an image at all."""
    if len(data) > max_bytes:
        raise ValidationError(Msg("attachments.image_too_large", mb=f"{max_bytes / 1_048_576:g}"))
    too_big = Msg("attachments.image_pixels", megapixels=f"{max_pixels / 1e6:g}")
    try:
        with _DECODING, Pillow.open(io.BytesIO(data)) as picture:
            kind, (width, height) = picture.format, picture.size
            if kind not in MEDIA_TYPES:
                raise ValidationError(Msg("attachments.image_type"))
            if width * height > max_pixels:
                raise ValidationError(too_big)
            return _working(picture, data, kind, detail)
    except (Pillow.DecompressionBombError, Pillow.DecompressionBombWarning):  # Pillow's own guard, from the header
        raise ValidationError(too_big) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise ValidationError(Msg("attachments.not_image")) from None


def _working(picture: Pillow.Image, data: bytes, kind: str, detail: Detail) -> Image:
    """The opened image decoded (a truncated or corrupt file fails here) and made upright and small enough."""
    width, height = picture.size
    turned = picture.getexif().get(0x0112, 1) not in (1, None)  # EXIF orientation: not as stored
    if turned and picture.getexif().get(0x0112) in (5, 6, 7, 8):
        width, height = height, width
    target = fit(width, height, long_edge=WORKING_EDGE, max_pixels=WORKING_PIXELS)
    if kind == "JPEG" and target != (width, height):
        picture.draft("RGB", target if not turned else (target[1], target[0]))  # decoded at 1/2 .. 1/8 already
    picture.load()
    if target == (width, height) and not turned and not getattr(picture, "is_animated", False):
        return Image(MEDIA_TYPES[kind], data, width, height, detail)
    frame = ImageOps.exif_transpose(picture) or picture
    return _encoded(frame.resize(target, Pillow.Resampling.LANCZOS) if frame.size != target else frame,
                    MEDIA_TYPES[kind], detail)


def _encoded(frame: Pillow.Image, media_type: str, detail: Detail) -> Image:
    """frame as bytes of the same type (a GIF's first frame as PNG)."""
    kind = "PNG" if media_type in ("image/gif", "image/png") else "WEBP" if media_type == "image/webp" else "JPEG"
    frame = frame.convert("RGB") if kind == "JPEG" else frame.convert("RGBA")
    out = io.BytesIO()
    frame.save(out, kind, **({"quality": 88} if kind != "PNG" else {}))
    return Image(MEDIA_TYPES[kind], out.getvalue(), frame.width, frame.height, detail)


def fit(width: int, height: int, *, long_edge: int, max_pixels: int | None = None,
        short_edge: int | None = None) -> tuple[int, int]:
    """The size an image is scaled down to (never up), keeping its aspect: its longer side at most long_edge,
    its area at most max_pixels, its shorter side at most short_edge."""
    scale = min(1.0, long_edge / max(width, height))
    if max_pixels:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if short_edge:
        scale = min(scale, short_edge / min(width, height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def scaled(image: Image, size: tuple[int, int]) -> Image:
    """The image at size (its own bytes when it already is that size); the same type, or PNG for a GIF. The image
    is one read_image gave: upright, one frame, within the working size (cheap to decode again)."""
    if size == (image.width, image.height):
        return image
    with _DECODING, Pillow.open(io.BytesIO(image.data)) as picture:
        picture.seek(0)
        return _encoded(picture.resize(size, Pillow.Resampling.LANCZOS), image.media_type, image.detail)


def data_url(image: Image) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"


def openai_size(width: int, height: int, detail: Detail = "auto") -> tuple[int, int]:
    """OpenAI's documented scaling: within 2048 × 2048, then the shorter side at most 768 (low detail: 512)."""
    if detail == "low":
        return fit(width, height, long_edge=512)
    return fit(*fit(width, height, long_edge=2048), long_edge=2048, short_edge=768)


# OpenAI's documented image costs: (base, per 512-pixel tile) for the tile-priced models (gpt-4o-mini bills more
# tokens at its lower price); token multipliers of the models priced by 32-pixel patches (at most 1536 patches).
MINI_TILES = {"gpt-4o-mini": (2833, 5667)}
TILES = (85, 170)  # gpt-4o, gpt-4.1, gpt-4.5, gpt-5 (the most of the tile-priced families)
PATCH_MULTIPLIERS = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "o4-mini": 1.72, "gpt-5-mini": 1.62,
                     "gpt-5-nano": 2.46}
PATCH = 32
MAX_PATCHES = 1536


def openai_tokens(model: str, width: int, height: int, detail: Detail = "auto") -> int:
    """The input tokens OpenAI bills for an image of this size (as sent: openai_size) on model."""
    multiplier = next((m for name, m in PATCH_MULTIPLIERS.items() if name in model), None)
    if multiplier is not None:
        patches = min(MAX_PATCHES, math.ceil(width / PATCH) * math.ceil(height / PATCH))
        return math.ceil(patches * multiplier)
    base, tile = next((t for name, t in MINI_TILES.items() if name in model), TILES)
    if detail == "low":
        return base
    return base + tile * math.ceil(width / 512) * math.ceil(height / 512)


def anthropic_size(width: int, height: int) -> tuple[int, int]:
    """Anthropic's documented maximum before its own resizing: a long edge of 1568 pixels, 1.15 megapixels."""
    return fit(width, height, long_edge=1568, max_pixels=1_150_000)


def anthropic_tokens(width: int, height: int) -> int:
    """Anthropic's documented estimate of an image's tokens: width × height / 750."""
    return math.ceil(width * height / 750)


def patch_tokens(width: int, height: int, patch: int = 16) -> int:
    """One token per patch and two markers: what a vision model of an OpenAI-compatible server takes at most for
    an image of this size (16-pixel patches: Pixtral's, the finest of the common ones; Qwen-VL's are 28)."""
    return math.ceil(width / patch) * math.ceil(height / patch) + 2
