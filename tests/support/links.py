"""The link-signing key tests sign and check with (32 bytes, like a generated one)."""

from __future__ import annotations

SIGNING_KEY = b"test-signing-key-0123456789abcdef"
