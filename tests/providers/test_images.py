"""Images read from their bytes, scaled to each provider's documented maximum, counted by its documented formula,
and held in a budget's bound; hostile files refused before they are decoded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image as Pillow

from core.config import ModelInfo, ProviderCatalog
from core.errors import ValidationError
from core.providers.anthropic import AnthropicProvider
from core.providers.base import ChatMessage, ChatRequest, Credentials, needs_of, request_bound
from core.providers.compatible import CompatibleProvider
from core.providers.images import (
    anthropic_size,
    anthropic_tokens,
    fit,
    openai_size,
    openai_tokens,
    read_image,
    scaled,
)
from core.providers.openai import OpenAIProvider

MB = 1_048_576


def picture(width: int, height: int, kind: str = "PNG", frames: int = 1) -> bytes:
    out = io.BytesIO()
    images = [Pillow.new("RGB", (width, height), (40 * n % 255, 90, 160)) for n in range(frames)]
    images[0].save(out, kind, **({"save_all": True, "append_images": images[1:]} if frames > 1 else {}))
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width × height pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def read(data: bytes) -> object:
    return read_image(data, max_bytes=10 * MB, max_pixels=40_000_000)


@pytest.mark.parametrize(("kind", "media_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                                  ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_the_type_is_read_from_the_bytes(kind: str, media_type: str) -> None:
    image = read_image(picture(300, 200, kind), max_bytes=MB, max_pixels=10**6)
    assert (image.media_type, image.width, image.height) == (media_type, 300, 200)


@pytest.mark.parametrize(("data", "key"), [
    (b"%PDF-1.7 not an image", "not an image"),
    (picture(64, 64, "BMP"), "PNG, JPEG, WebP or GIF"),
    (picture(600, 400)[:300], "not an image"),  # truncated
    (png_claiming(100_000, 100_000), "megapixels"),  # refused from its header, nothing decoded
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
])
def test_hostile_or_foreign_files_are_refused_saying_why(data: bytes, key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        read(data)
    assert key in str(refused.value.user_message)


def test_an_image_over_the_byte_limit_is_refused_before_it_is_opened() -> None:
    with pytest.raises(ValidationError) as refused:
        read_image(picture(500, 500), max_bytes=100, max_pixels=10**9)
    assert "larger than" in str(refused.value.user_message)


def test_sizes_follow_the_providers_documents() -> None:
    assert fit(100, 50, long_edge=2048) == (100, 50)  # never scaled up
    assert openai_size(4096, 2048) == (1536, 768)  # within 2048 square, then the short side 768
    assert openai_size(1000, 700) == (1000, 700)
    assert openai_size(3000, 3000, "low") == (512, 512)
    assert anthropic_size(1000, 1000) == (1000, 1000)
    assert anthropic_size(3000, 1500) == (1516, 758)  # long edge 1568, then 1.15 megapixels
    assert anthropic_size(4000, 500)[0] == 1568


def test_token_counts_follow_the_providers_formulas() -> None:
    assert openai_tokens("gpt-4o", 1536, 768) == 85 + 170 * 6
    assert openai_tokens("gpt-4o", 1536, 768, "low") == 85
    assert openai_tokens("gpt-4o-mini", 1536, 768) == 2833 + 5667 * 6
    assert openai_tokens("gpt-4.1-mini", 1024, 1024) == 1659  # 1024 patches × 1.62
    assert openai_tokens("gpt-4.1-nano", 4096, 4096) == 3779  # 1536 patches at most, × 2.46
    assert anthropic_tokens(1000, 1000) == 1334


def test_an_image_is_kept_at_the_working_size_and_scaled_from_it() -> None:
    jpeg = read_image(picture(4000, 2000, "JPEG"), max_bytes=10 * MB, max_pixels=40_000_000)
    assert (jpeg.media_type, jpeg.width, jpeg.height) == ("image/jpeg", 1788, 894)  # 2048 edge, 1.6 megapixels
    small = scaled(jpeg, (1536, 768))
    with Pillow.open(io.BytesIO(small.data)) as sent:
        assert (sent.format, sent.size) == ("JPEG", (1536, 768))
    assert scaled(jpeg, (1788, 894)) is jpeg  # already that size: its own bytes
    animated = read_image(picture(900, 900, "GIF", frames=3), max_bytes=MB, max_pixels=10**6)
    assert animated.media_type == "image/png" and (animated.width, animated.height) == (900, 900)  # first frame
    small_png = picture(300, 200)
    assert read_image(small_png, max_bytes=MB, max_pixels=10**6).data == small_png  # as it came


def test_a_photo_is_turned_upright_as_its_exif_says() -> None:
    out = io.BytesIO()
    exif = Pillow.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    Pillow.new("RGB", (4000, 1000), (200, 30, 30)).save(out, "JPEG", exif=exif)
    upright = read_image(out.getvalue(), max_bytes=10 * MB, max_pixels=40_000_000)
    assert (upright.width, upright.height) == (512, 2048)  # 1000 × 4000 upright, within the 2048 edge
    with Pillow.open(io.BytesIO(upright.data)) as kept:
        assert kept.size == (512, 2048) and kept.getexif().get(0x0112, 1) == 1


def _provider(cls: type, **models: ModelInfo):  # type: ignore[no-untyped-def, type-arg]
    return cls(ProviderCatalog(models=models or {"m": ModelInfo()}), Credentials(api_key="k", base_url="http://x"))


def test_a_budget_holds_what_the_images_are_billed() -> None:
    image = read(picture(4096, 2048))
    text = ChatRequest(model="gpt-4o-mini", messages=[ChatMessage("user", "what is this?")])
    seen = ChatRequest(model="gpt-4o-mini", messages=[ChatMessage("user", "what is this?", images=(image,))])  # type: ignore[arg-type]
    openai, claude = _provider(OpenAIProvider), _provider(AnthropicProvider)
    assert request_bound(seen, openai) - request_bound(text, openai) == 2833 + 5667 * 6
    assert request_bound(seen, claude) - request_bound(text, claude) == anthropic_tokens(1516, 758)
    # A compatible server's model: OpenAI's count or one token per 28-pixel patch, whichever is more.
    compatible = _provider(CompatibleProvider)
    text, seen = (ChatRequest(model="llava", messages=[ChatMessage("user", "what is this?", images=i)])
                  for i in ((), (image,)))
    assert request_bound(seen, compatible) - request_bound(text, compatible) == 96 * 48 + 2  # 1536 × 768 sent


def test_vision_is_a_capability_the_catalog_can_say() -> None:
    image = read(picture(10, 10))
    assert needs_of(None, [ChatMessage("user", "hi", images=(image,))]) == {"vision"}  # type: ignore[arg-type]
    assert needs_of(None, [ChatMessage("user", "hi")]) == frozenset()
    assert _provider(OpenAIProvider).supports("m", frozenset({"vision"}))
    assert _provider(AnthropicProvider).supports("m", frozenset({"vision"}))
    assert not _provider(CompatibleProvider).supports("m", frozenset({"vision"}))
    assert _provider(CompatibleProvider, m=ModelInfo(vision=True)).supports("m", frozenset({"vision"}))
    assert not _provider(OpenAIProvider, m=ModelInfo(vision=False)).supports("m", frozenset({"vision"}))
