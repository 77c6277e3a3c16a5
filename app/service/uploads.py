"""A case's screenshot: bounded in size before it is parsed, checked by its content (Pillow: PNG, JPEG or WebP
only, a bounded pixel count against decompression bombs), kept under the instance folder with a random name."""

import hashlib
import io
import os
import secrets
import warnings
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image

from app.core.errors import ValidationError
from app.service.models import CaseAttachment

#: Pillow's format name → the only Content-Type we ever serve the file with.
FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}


@dataclass(frozen=True)
class Screenshot:
    data: bytes
    filename: str
    content_type: str
    ext: str
    width: int
    height: int


def _too_big() -> ValidationError:
    mb = current_app.config["SERVICE_CASE_UPLOAD_MAX_BYTES"] / (1024 * 1024)
    return ValidationError(_l("The screenshot is too big: at most %(mb)s MB.", mb=f"{mb:g}"), field="attachment",
                           code="FILE_TOO_BIG")


def _not_image() -> ValidationError:
    return ValidationError(_l("The screenshot must be a PNG, JPEG or WebP image."), field="attachment",
                           code="NOT_AN_IMAGE")


def check(upload) -> Screenshot | None:
    """Read at most the limit + 1 bytes (a longer stream is refused unparsed), then let Pillow decide what it is.
    None when no file was chosen."""
    if upload is None or not getattr(upload, "filename", None):
        return None
    limit = current_app.config["SERVICE_CASE_UPLOAD_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise _too_big()
    if not data:
        raise _not_image()
    max_pixels = current_app.config["SERVICE_CASE_UPLOAD_MAX_PIXELS"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as im:
                fmt, (width, height) = im.format, im.size
                if width * height > max_pixels:
                    raise ValidationError(_l("The screenshot has too many pixels."), field="attachment",
                                          code="TOO_MANY_PIXELS")
                im.verify()
            # verify() checks the structure; loading decodes the pixels (a truncated or forged body fails here)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as im:
                im.load()
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(_l("The screenshot has too many pixels."), field="attachment",
                              code="TOO_MANY_PIXELS") from None
    except Exception:  # Pillow raises many kinds (UnidentifiedImageError, OSError, SyntaxError, ValueError…)
        raise _not_image() from None
    if fmt not in FORMATS:
        raise _not_image()
    content_type, ext = FORMATS[fmt]
    name = os.path.basename(upload.filename.replace("\\", "/"))[:120]
    return Screenshot(data, name, content_type, ext, width, height)


def directory() -> str:
    return current_app.config["SERVICE_CASE_FILES_DIR"]


def store(case_id: int, image: Screenshot, uploaded_by: int | None) -> CaseAttachment:
    """Write the file (a random name, created exclusively) and return its row for the caller's transaction."""
    os.makedirs(directory(), mode=0o700, exist_ok=True)
    stored = f"{secrets.token_hex(16)}.{image.ext}"
    with open(os.path.join(directory(), stored), "xb") as f:
        f.write(image.data)
    return CaseAttachment(case_id=case_id, stored=stored, filename=image.filename, content_type=image.content_type,
                          size=len(image.data), width=image.width, height=image.height,
                          sha256=hashlib.sha256(image.data).hexdigest(), uploaded_by=uploaded_by)


def read(att: CaseAttachment) -> bytes:
    with open(os.path.join(directory(), os.path.basename(att.stored)), "rb") as f:
        return f.read()
