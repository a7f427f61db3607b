"""The 10,000 most common passwords, which no account may use.

`data/common_passwords.txt` holds the top 10,000 entries, in rank order, of the password
frequency list that zxcvbn 4.5.0 (MIT licence, PyPI `zxcvbn`) ships, itself drawn from
leaked-password corpora. Entries are lower case; so the check folds case.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common_passwords.txt"


@cache
def common_passwords() -> frozenset[str]:
    """Read once per process (about 1 MB in memory), on the first password checked."""
    return frozenset(COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split("\n")) - {""}


def is_common(password: str) -> bool:
    return password.casefold() in common_passwords()
