"""``bdpe export liberty|accelergy``: one library (Liberty) or one ERT + ART pair (Accelergy) per
operating point of a table file, written into one directory.

Every file is rendered in memory before anything is written. A directory that does not exist yet
is built under a temporary name next to it and renamed into place (a reader sees all files or
none); into an existing directory each file is replaced atomically
(:func:`characterize.files.atomic_write`) after all are rendered and every target was checked.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .export_tables import ExportError, collect, select_points

__all__ = ["FORMATS", "render", "run_export", "write_files", "ExportError"]

FORMATS = ("liberty", "accelergy")


def render(kind: str, tables, points) -> dict[str, str]:
    """{file name: text} of every point (nothing written)."""
    if kind == "liberty":
        from .liberty import render_liberty as renderer
    elif kind == "accelergy":
        from .accelergy import render_accelergy as renderer
    else:
        raise ExportError("FORMAT", kind, f"is not one of {', '.join(FORMATS)}")
    files: dict[str, str] = {}
    for point in points:
        for name, text in renderer(collect(tables, point)):
            files[name] = text
    return files


def _new_tree(out: Path, files: dict[str, str]) -> None:
    """Create ``out`` (and missing parents) holding ``files``: built in a temporary directory in the
    nearest existing ancestor and renamed into place, so a failure leaves nothing behind."""
    from characterize.files import file_mode

    top = out
    while not top.parent.exists():
        top = top.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{top.name}.", suffix=".tmp", dir=top.parent))
    try:
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's 0700 -> the mode of a normally created directory
        target = tmp.joinpath(*out.relative_to(top).parts)
        target.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (target / name).write_text(text)
            os.chmod(target / name, file_mode())
        os.rename(tmp, top)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_files(out: str | os.PathLike, files: dict[str, str]) -> list[Path]:
    """Write ``files`` into the directory ``out`` (see the module docstring); returns their paths."""
    from characterize.files import atomic_write, check_output_dir, check_output_file

    given = Path(out)  # the paths are reported as the user wrote them
    out = check_output_dir("-o", os.path.abspath(out))  # "a/../b" must not escape the temporary tree
    if not out.exists():
        _new_tree(out, files)
    else:
        for name in files:  # every target checked before the first write
            check_output_file("-o", out / name)
        for name, text in files.items():
            atomic_write(out / name, text)
    return [given / name for name in files]


def run_export(kind: str, tables, out: str | os.PathLike, *, corner: str | None = None, vdd: float | None = None,
               temperature: float | None = None, all_points: bool = False) -> list[Path]:
    """Select the operating points, render every file, then write them; returns the written paths."""
    from characterize.files import check_output_dir

    check_output_dir("-o", out)  # an unwritable destination is refused before any work
    points = select_points(tables, corner, vdd, temperature, all_points)
    return write_files(out, render(kind, tables, points))
