"""Atomic file writes: the one place that spells out temp file + fsync + rename.

A reader (a viewer loading the model, a resumed training job, a test) must see either
the old file or the complete new one, never half a file from a killed job. So every
writer here writes into a temporary file in the *same directory* (os.replace is only
atomic within one file system), flushes it to disk, then renames it over the target.
On any failure the temporary file is removed and the old target is untouched.

The temporary name is ".<name>.<random>.tmp", so a leftover after a hard kill is
hidden from listings and recognisable (``*.tmp``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "write_bytes_atomic", "write_text_atomic", "write_json_atomic", "save_torch_atomic"]


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary_path)`, then move the finished file onto `path`.

    `write` must create the file at the path it is given (e.g. torch.save, safetensors'
    save_file). The parent directory is created if missing. Returns `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(temp_name)
    try:
        write(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        # mkstemp creates 0600; the files written here are outputs meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda temporary: temporary.write_bytes(data))


def write_text_atomic(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    """JSON with a trailing newline; NaN/inf are refused (they are not JSON)."""
    return write_text_atomic(path, json.dumps(data, indent=indent, allow_nan=False) + "\n")


def save_torch_atomic(obj: Any, path: str | Path) -> Path:
    import torch

    return atomic_write(path, lambda temporary: torch.save(obj, temporary))
