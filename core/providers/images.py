"""Images a message carries: read once from their bytes (the type from the content, never from a name or a
declared type), downscaled to each provider's documented maximum when sent, and counted by its documented formula.

A budget holds what a request can be billed before it is sent (core.usage.budget), so the counts here are upper
bounds for the size actually sent: OpenAI's tile formula (the mini models' multipliers where they apply),
Anthropic's pixels / 750, and for an OpenAI-compatible server (whose model may cut an image into 28-pixel patches)
the larger of OpenAI's count and one token per patch.
"""

from __future__ import annotations

import base64
import io
import math
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


def read_image(data: bytes, *, max_bytes: int, max_pixels: int, detail: Detail = "auto") -> Image:
    """The image in data (PNG, JPEG, WebP or GIF, read from its content); ValidationError saying why it is not one
    this server takes: too large in bytes or in pixels (a decompression bomb is refused before it is decoded),
    another type, or not an image at all."""
    if len(data) > max_bytes:
        raise ValidationError(Msg("attachments.image_too_large", mb=f"{max_bytes / 1_048_576:g}"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Pillow.DecompressionBombWarning)
            with Pillow.open(io.BytesIO(data)) as picture:
                kind, (width, height) = picture.format, picture.size
                if kind not in MEDIA_TYPES:
                    raise ValidationError(Msg("attachments.image_type"))
                if width * height > max_pixels:
                    raise ValidationError(Msg("attachments.image_pixels", megapixels=f"{max_pixels / 1e6:g}"))
                picture.load()  # the whole image decodes (a truncated or corrupt file is refused here)
    except (Pillow.DecompressionBombError, Pillow.DecompressionBombWarning):  # Pillow's own guard, from the header
        raise ValidationError(Msg("attachments.image_pixels", megapixels=f"{max_pixels / 1e6:g}")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise ValidationError(Msg("attachments.not_image")) from None
    return Image(MEDIA_TYPES[kind], data, width, height, detail)


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
    """The image at size (its own bytes when it already is that size); the same type, or PNG for a GIF."""
    if size == (image.width, image.height):
        return image
    with Pillow.open(io.BytesIO(image.data)) as picture:
        picture.seek(0)  # an animated GIF: its first frame
        frame = ImageOps.exif_transpose(picture) or picture
        kind = "PNG" if image.media_type in ("image/gif", "image/png") else \
            "WEBP" if image.media_type == "image/webp" else "JPEG"
        frame = frame.convert("RGB") if kind == "JPEG" else frame.convert("RGBA")
        out = io.BytesIO()
        frame.resize(size, Pillow.Resampling.LANCZOS).save(out, kind, **({"quality": 88} if kind != "PNG" else {}))
    return Image(MEDIA_TYPES[kind], out.getvalue(), size[0], size[1], image.detail)


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


def patch_tokens(width: int, height: int, patch: int = 28) -> int:
    """One token per patch and two markers: what a vision model of an OpenAI-compatible server (Qwen-VL, LLaVA
    style) takes at most for an image of this size."""
    return math.ceil(width / patch) * math.ceil(height / patch) + 2
