"""Where a command's SQLite store is, and whether it exists: offline commands never create an
empty store by accident (a relative `store.url` resolves against the working directory)."""

from __future__ import annotations

from pathlib import Path

_SQLITE = "sqlite:///"


def missing_sqlite_store(url: str) -> Path | None:
    """The absolute path of a SQLite store `url` names that does not exist (None: it exists, or
    the store is not a SQLite file)."""
    if not url.startswith(_SQLITE) or url == _SQLITE:
        return None
    path = Path(url[len(_SQLITE):])
    return None if path.is_file() else path.absolute()
