"""The one comparison form of usernames and emails: NFKC, then case-folded.

Done in Python (not with the database's `lower()`, which folds only ASCII on SQLite)
and stored in the unique `*_key` columns, so every database compares alike.
"""

from __future__ import annotations

import unicodedata


def name_key(text: str) -> str:
    """`Alice`, `ALICE` and a full-width `alice` all give `alice`."""
    return unicodedata.normalize("NFKC", text.strip()).casefold()
