"""The images and files of a chat-completions request: its image_url and file parts read before anything is asked or
recorded (a file: a document, read by the knowledge parser, whose text goes with its message).

A data URL is decoded here; its type is read from the bytes (core.providers.images.read_image), never from the
URL's declared type. An http(s) URL is refused unless an administrator allowed remote images
(attachments.remote_images): then it is fetched from public addresses only (core.keys.urls, the check users' own
servers get), without following redirects, at most max_image_mb, within remote_timeout_seconds. Any refusal is a
400 naming `messages`, saying why.
"""

from __future__ import annotations

import base64
import binascii
import re
import time

import httpx2 as httpx

from core.api.errors import ApiError
from core.api.parts import ImageUrl
from core.api.schemas import CompletionRequest
from core.chat.files import prepare
from core.config import Settings
from core.errors import ValidationError
from core.history.attachments import Upload
from core.i18n import Msg
from core.keys.urls import check_public_url
from core.providers.images import Image, read_image

DATA_URL = re.compile(r"data:[\w.+/-]*(?:;[\w.+=-]+)*;base64,", re.IGNORECASE)


def read_images(body: CompletionRequest, settings: Settings) -> list[tuple[Image, ...]]:
    """Each message's images, in order (an empty tuple for a message without); ApiError 400 when one is refused."""
    limits = settings.attachments
    if sum(len(m.images) for m in body.messages) > limits.max_images_per_request:
        raise _refused(Msg("api.too_many_images_in_request", n=limits.max_images_per_request))
    read: list[tuple[Image, ...]] = []
    for message in body.messages:
        urls = message.images
        if len(urls) > limits.max_images_per_message:
            raise _refused(Msg("api.too_many_images", n=limits.max_images_per_message))
        read.append(tuple(_image(url, settings) for url in urls))
    return read


def read_documents(body: CompletionRequest, settings: Settings) -> list[tuple[tuple[str, str], ...]]:
    """Each message's documents (file parts: PDF, DOCX, Markdown, HTML, text, read by the knowledge parser within
    its limits) as (name, text), in order; ApiError 400 when one is refused (an image goes as an image_url part)."""
    read: list[tuple[tuple[str, str], ...]] = []
    limit, max_bytes = settings.attachments.max_documents_per_message, int(settings.knowledge.max_file_mb * 1_048_576)
    for message in body.messages:
        if len(message.files) > limit:
            raise _refused(Msg("attachments.too_many_documents", n=limit))
        uploads = []
        for n, part in enumerate(message.files, start=1):
            name = part.filename or f"document {n}"
            try:
                uploads.append(Upload(name, _data(part.file_data or "", settings, max_bytes, decode_error=Msg(
                    "attachments.refused", name=name[:255], reason=Msg("api.file_data")))))
            except ValidationError as exc:
                raise _refused(exc.user_message) from None
        try:
            prepared = prepare(uploads, settings) if uploads else ()
        except ValidationError as exc:
            raise _refused(exc.user_message) from None
        if any(p.kind == "image" for p in prepared):
            raise _refused(Msg("api.file_is_image"))
        read.append(tuple((p.name, p.text) for p in prepared))
    return read


def _data(url: str, settings: Settings, max_bytes: int, *, decode_error: Msg) -> bytes:
    """The bytes of a data URL (ValidationError: not one, or over max_bytes before it is decoded)."""
    data_url = DATA_URL.match(url)
    if data_url is None:
        raise ValidationError(Msg("api.file_data"))
    payload = url[data_url.end():]
    if len(payload) > (max_bytes + 2) // 3 * 4:
        raise ValidationError(Msg("knowledge.too_big", size=f"{len(payload) * 3 / 4 / 1e6:.1f}",
                                  limit=f"{max_bytes / 1_048_576:g}"))
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(decode_error) from None


def _image(part: ImageUrl, settings: Settings) -> Image:
    limits = settings.attachments
    max_bytes = int(limits.max_image_mb * 1_048_576)
    try:
        return read_image(_bytes(part.url, settings, max_bytes), max_bytes=max_bytes,
                          max_pixels=int(limits.max_image_megapixels * 1_000_000), detail=part.detail)
    except ValidationError as exc:
        raise _refused(exc.user_message) from None


def _bytes(url: str, settings: Settings, max_bytes: int) -> bytes:
    data_url = DATA_URL.match(url)
    if data_url is not None:
        payload = url[data_url.end():]
        if len(payload) > (max_bytes + 2) // 3 * 4:  # refused before decoding: its bytes would be over the limit
            raise ValidationError(Msg("attachments.image_too_large", mb=f"{settings.attachments.max_image_mb:g}"))
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(Msg("attachments.not_image")) from None
    if url.partition(":")[0].lower() not in ("http", "https"):
        raise ValidationError(Msg("api.image_url"))
    if not settings.attachments.remote_images:
        raise ValidationError(Msg("api.image_remote"))
    return _fetch(url, settings, max_bytes)


def _fetch(url: str, settings: Settings, max_bytes: int) -> bytes:
    """The bytes at a public http(s) URL (no redirects, at most max_bytes, all within the timeout); ValidationError
    saying why not. keys.allowed_private_hosts does not apply: it lets users' own model servers be internal, not
    any API caller fetch from them."""
    try:
        check_public_url(url, settings, allowed=())
    except ValidationError as exc:
        raise ValidationError(Msg("api.image_fetch", reason=exc.user_message)) from None
    timeout = settings.attachments.remote_timeout_seconds
    deadline, received = time.monotonic() + timeout, bytearray()
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ValidationError(Msg("api.image_fetch", reason=f"HTTP {response.status_code}"))
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) > max_bytes:
                    raise ValidationError(Msg("attachments.image_too_large",
                                              mb=f"{settings.attachments.max_image_mb:g}"))
                if time.monotonic() > deadline:  # a server trickling bytes: the whole fetch has one timeout
                    raise ValidationError(Msg("api.image_fetch", reason=Msg("api.image_slow", s=f"{timeout:g}")))
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # InvalidURL: a URL httpx reads otherwise
        raise ValidationError(Msg("api.image_fetch", reason=type(exc).__name__)) from None
    return bytes(received)


def _refused(message: str) -> ApiError:
    return ApiError(400, str(message), code="invalid_image", param="messages")
