"""What every school backend declares about itself (its manifest), and what it is given.

A backend package registers its manifest under the ``lienlac.backends`` entry-point group::

    [project.entry-points."lienlac.backends"]
    my_qlhs = "my_package.backend:manifest"

``bot.backends.registry`` finds it by name (``LIENLAC_BACKEND__KIND=my_qlhs``), reads and
validates its config file with ``load_config`` *before* anything is built ("test before
configure"), then calls ``factory(config, deps)`` from the composition root.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.ports import Capability, Clock, SchoolBackend

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendDeps:
    """What the composition root injects into a backend factory."""

    school_id: str
    clock: Clock
    sessions: async_sessionmaker[AsyncSession] | None = None  # LienLac's own database
    http: httpx.AsyncClient | None = None  # only for manifests with ``needs_http``


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendManifest:
    """Registered under the ``lienlac.backends`` entry-point group by each backend package."""

    name: str  # "local", "rest_json", "oneroster", or a vendor's own
    title: str
    capabilities: frozenset[Capability]  # the most it can do; a config may offer less
    config_help: str = ""  # one paragraph for the README / check-config
    config_model: type[Any] | None = None  # the pydantic model of its config file
    # Read and validate the config file; raise ValueError with one sentence if it is wrong.
    load_config: Callable[[Path], Any] | None = None
    factory: Callable[[Any, BackendDeps], SchoolBackend] | None = None
    needs_http: bool = False  # the composition root builds and closes an httpx.AsyncClient


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def load_toml_config(path: Path, model: type[ConfigT], *, what: str) -> ConfigT:
    """Read and validate a backend's TOML file; ``ValueError`` with one sentence (``what``
    names the file for the operator, e.g. "the mapping file") if it is wrong."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as err:
        raise ValueError(f"{what} {path} cannot be read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{what} {path} is not valid TOML: {err}") from err
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{path}: {where}: {message}") from err
