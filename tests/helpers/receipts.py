"""Receipt files by their first bytes, and files that only pretend to be one."""

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"

# (content, file name, test id): each must be refused, whatever its name says.
BAD_RECEIPTS = [
    (b"", "empty.png", "empty"),
    (b"#!/bin/sh\nrm -rf /\n", "script.jpg", "script-as-jpg"),
    (b"PK\x03\x04" + b"\x00" * 100, "bomb.pdf", "zip-as-pdf"),
    (b"GIF89a" + b"\x00" * 20, "anim.png", "gif"),
    (PNG + b"\x00" * (5 * 1024 * 1024), "huge.png", "over-5MB"),
]
