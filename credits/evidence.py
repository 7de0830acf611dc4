"""What a bank transfer's evidence on a credit request must be: one set of
rules, read by the API's fields and the portal's form alike."""

import re
import uuid

import filetype
from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext as _

from config.formats import latin_digits

# A receipt: these types, recognised by their first bytes, never by name.
RECEIPT_TYPES = {"image/png", "image/jpeg", "application/pdf"}
RECEIPT_MAX_BYTES = 5 * 1024 * 1024
# The bank's reference: 1 to 64 visible characters (no spaces or controls).
TRACKING_NUMBER = re.compile(r"[!-~]{1,64}")
# The evidence CREDIT_REQUEST_EVIDENCE_REQUIRED makes a request carry.
REQUIRED_FIELDS = ("bank", "tracking_number", "transferred_on")


class InvalidEvidence(ValueError):
    pass


def evidence_required() -> bool:
    return settings.CREDIT_REQUEST_EVIDENCE_REQUIRED


def clean_tracking_number(value: str) -> str:
    """Persian and Arabic-Indic digits are read as Latin ones."""
    value = latin_digits(value)
    if not TRACKING_NUMBER.fullmatch(value):
        raise InvalidEvidence(_("1 to 64 visible characters (letters, digits, punctuation)."))
    return value


def clean_receipt(receipt: "File[bytes]") -> "File[bytes]":
    """A PNG, JPEG or PDF of at most 5 MB, its type read from its content
    (`filetype`) and its name made ours: the client's name and extension are
    never trusted. (An empty file is refused before this, by the form field.)"""
    if receipt.size is None or receipt.size > RECEIPT_MAX_BYTES:
        raise InvalidEvidence(_("A receipt may be at most %(limit)s bytes.") % {"limit": f"{RECEIPT_MAX_BYTES:,}"})
    receipt.seek(0)
    kind = filetype.guess(receipt.read(512))
    receipt.seek(0)
    if kind is None or kind.mime not in RECEIPT_TYPES:
        raise InvalidEvidence(_("A receipt must be a PNG, JPEG or PDF file."))
    receipt.name = f"{uuid.uuid4().hex}.{kind.extension}"
    return receipt
