"""The content parts of a chat-completions message, as OpenAI's wire format states them: text, images
(image_url: a data URL, or where an admin allows it an http(s) URL; read by core.api.images) and files (file_data:
a data URL of a document, read by the knowledge parser). Anything else is a 400 naming the part."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ImageUrl(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1)  # a data URL (or, where an admin allows it, http(s)): core.api.images
    detail: Literal["auto", "low", "high"] = "auto"


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["image_url"]
    image_url: ImageUrl


class FileData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file_data: str | None = Field(default=None, min_length=1)  # a data URL (base64): core.api.images
    filename: str | None = Field(default=None, max_length=255)
    file_id: str | None = None  # OpenAI's uploaded files: there is no /v1/files here

    @model_validator(mode="after")
    def _data_given(self) -> FileData:
        if self.file_id is not None:
            raise ValueError("file_id is not supported (there is no /v1/files here): send the file as file_data")
        if self.file_data is None:
            raise ValueError("file_data is required: the file as a data URL (data:application/pdf;base64,...)")
        return self


class FilePart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["file"]
    file: FileData


Part = Annotated[TextPart | ImagePart | FilePart, Field(discriminator="type")]
