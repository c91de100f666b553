"""What every school backend declares about itself (its manifest)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.ports import Capability


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendManifest:
    """Registered under the ``lienlac.backends`` entry-point group by each backend package."""

    name: str  # "local", "rest_json", "oneroster", or a vendor's own
    title: str
    capabilities: frozenset[Capability]
    config_help: str = ""  # one paragraph for the README / check-config
