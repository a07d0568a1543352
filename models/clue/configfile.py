"""Reading TOML config files and turning their tables into typed dataclasses, with the same
clear one-line errors everywhere (the file, and what is wrong with it)."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from clue.errors import UserFacingError

T = TypeVar("T")


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The parsed TOML file; ``what`` names the kind of config in errors ("train", "model")."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UserFacingError(f"{path}: {what} config file does not exist") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserFacingError(f"{path}: not valid TOML ({error})") from error


def dataclass_from_dict(cls: type[T], data: dict[str, Any], source: str, what: str) -> T:
    """``cls(**data)``, refusing unknown keys by name and bad values with the reason."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserFacingError(
            f"{source}: unknown {what} setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    try:
        return cls(**data)
    except (TypeError, ValueError) as error:
        raise UserFacingError(f"{source}: {error}") from error
