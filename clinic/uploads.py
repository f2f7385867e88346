"""Checks on uploaded files: what a file is, judged by its bytes, never by its name or the
type the browser claims; and the name it may be handed out under.

Used by doctors' credential documents and photos and by record attachments."""

from pathlib import Path

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import UploadedFile
from django.utils.text import get_valid_filename
from PIL import Image

# Leading bytes -> (content type, stored extension, Pillow format; None for PDF).
DOCUMENT_SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf", None),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png", "PNG"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg", "JPEG"),
)
# A scan or a portrait needs nothing near this; it refuses decompression bombs before decoding.
MAX_IMAGE_PIXELS = 80_000_000
# Client names that already say what the file is.
SAME_TYPE_SUFFIXES = {".jpg": {".jpg", ".jpeg"}}


def image_format(upload: UploadedFile, *, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """The Pillow format of an image that opens and verifies, else None."""
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            if image.width * image.height > max_pixels:
                return None
            found = image.format
            image.verify()
    except Exception:  # Pillow raises many types for broken or hostile files
        return None
    finally:
        upload.seek(0)
    return found


def document_type(upload: UploadedFile) -> tuple[str, str] | None:
    """(content type, extension) of a PDF, PNG or JPEG judged by its bytes, else None. An image
    must also open and verify in Pillow as the format its signature claims."""
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for signature, content_type, extension, pillow_format in DOCUMENT_SIGNATURES:
        if not head.startswith(signature):
            continue
        if pillow_format is not None and image_format(upload) != pillow_format:
            return None
        return content_type, extension
    return None


def download_name(name: str, extension: str, *, fallback: str) -> str:
    """The client's file name, cleaned, ending like what the file really is: it is offered as
    the download name, so "scan.exe" holding a PDF is handed out as "scan.exe.pdf"."""
    try:
        cleaned = get_valid_filename(Path(name or "").name)
    except SuspiciousFileOperation:  # a name like ".."
        return f"{fallback}{extension}"
    suffix = Path(cleaned).suffix.lower()
    if suffix not in SAME_TYPE_SUFFIXES.get(extension, {extension}):
        cleaned = f"{cleaned[: 255 - len(extension)]}{extension}"
    return cleaned[-255:]
