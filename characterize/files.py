"""Output files: the one atomic-write helper and the checks of a destination before any work.

Every file the package writes (tables, cache entries, JSON, report pages, figures) goes through
:func:`atomic_write`: the data lands in a temporary file in the same directory, gets the permissions
of a normally created file (``0666 & ~umask``, not ``mkstemp``'s 0600) and is renamed over the
target, so a reader never sees a half-written file and a failed write leaves nothing behind.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from rram_models.base import InputError

__all__ = ["OutputPathError", "atomic_write", "check_output_file", "check_output_dir", "file_mode", "safe_text"]


def safe_text(text: object) -> str:
    """Untrusted text (a campaign name, a table attribute, a path) made safe for a terminal, a log or
    a Markdown page: control characters (ESC, NUL, CR, newlines, C1 codes) are shown escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


class OutputPathError(InputError):
    """A destination that cannot be written; ``field`` names the option it came from."""


def file_mode() -> int:
    """Permissions of a newly created regular file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically; on any failure (disk full, EFBIG, Ctrl-C) the
    temporary file is removed and the old ``path`` (if any) is untouched."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _probe_directory(field: str, value: str, directory: Path) -> None:
    """Create and remove a file in ``directory``: the only test that also holds for root, read-only
    mounts and pseudo file systems such as /proc."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".bdpe-probe.", dir=directory)
    except OSError as exc:
        raise OutputPathError(field, value, f"cannot be written: directory {str(directory)!r} is not writable "
                                            f"({exc.strerror})") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_file(field: str, value: str | os.PathLike | None, suffix: str | None = None) -> Path:
    """A file we will (atomically) create or replace: refuse what would fail after the work."""
    try:
        return _check_output_file(field, value, suffix)
    except OSError as exc:  # e.g. ENAMETOOLONG, ELOOP from the checks themselves
        raise OutputPathError(field, str(value), f"cannot be used ({exc.strerror or exc})") from None


def check_output_dir(field: str, value: str | os.PathLike | None) -> Path:
    """A directory we will create (with parents) or fill: refuse a file, an unwritable place."""
    try:
        return _check_output_dir(field, value)
    except OSError as exc:
        raise OutputPathError(field, str(value), f"cannot be used ({exc.strerror or exc})") from None


def _path_text(field: str, value) -> tuple[str, Path]:
    text = "" if value is None else str(value)
    if not text.strip():
        raise OutputPathError(field, text, "is empty")
    if "\x00" in text:
        raise OutputPathError(field, text, "contains a NUL character")
    return text, Path(text)


def _check_output_file(field: str, value, suffix: str | None) -> Path:
    text, path = _path_text(field, value)
    if suffix is not None and path.suffix.lower() != suffix:
        raise OutputPathError(field, text, f"must end in {suffix}")
    if text.endswith(os.sep) or path.is_dir():
        raise OutputPathError(field, text, "is a directory")
    parent = path.parent
    if not parent.exists():
        raise OutputPathError(field, text, f"cannot be written: directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise OutputPathError(field, text, f"cannot be written: {str(parent)!r} is not a directory")
    if path.is_symlink() and not path.exists():
        raise OutputPathError(field, text, "is a broken symbolic link")
    if path.exists():
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise OutputPathError(field, text, "exists and is not a regular file")
        if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
            raise OutputPathError(field, text, "exists and is read-only or immutable")
    _probe_directory(field, text, parent)
    return path


def _check_output_dir(field: str, value) -> Path:
    text, path = _path_text(field, value)
    if path.exists() and not path.is_dir():
        raise OutputPathError(field, text, "exists and is not a directory")
    existing = path
    while not existing.exists():
        if existing.is_symlink():  # a dangling link
            raise OutputPathError(field, text, f"cannot be created: {str(existing)!r} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(field, text, f"cannot be created: {str(existing)!r} is not a directory")
    _probe_directory(field, text, existing)
    return path
