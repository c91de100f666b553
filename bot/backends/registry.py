"""Finding backends by name through the ``lienlac.backends`` entry-point group.

The built-in backends are also known by module path, so a source checkout that was never
``pip install``-ed still finds them; an installed package may override none of them
silently: a name clash is an error.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from bot.backends.base import BackendManifest
from bot.domain.errors import BackendError
from bot.domain.models import Term
from bot.ports import Capability, SchoolBackend

GROUP = "lienlac.backends"
BUILTIN = {
    "local": "bot.backends.local:manifest",
    "rest_json": "bot.backends.rest_json:manifest",
    "oneroster": "bot.backends.oneroster:manifest",
}


class UnknownBackend(LookupError):
    pass


def available() -> dict[str, str]:
    """Backend name -> ``module:attribute`` of its manifest."""
    found = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        if ep.name in BUILTIN and ep.value != BUILTIN[ep.name]:
            raise UnknownBackend(f"the package of {ep.value} redefines the built-in {ep.name!r}")
        found[ep.name] = ep.value
    return found


def load_manifest(name: str) -> BackendManifest:
    target = available().get(name)
    if target is None:
        raise UnknownBackend(
            f"no backend named {name!r}; installed: {', '.join(sorted(available()))}"
        )
    module_name, _, attr = target.partition(":")
    manifest = getattr(importlib.import_module(module_name), attr or "manifest")
    if not isinstance(manifest, BackendManifest) or manifest.name != name:
        raise UnknownBackend(f"{target} is not the BackendManifest of {name!r}")
    return manifest


def load_config(manifest: BackendManifest, path: Path | None) -> Any:
    """The backend's validated config, or ``ValueError`` with one sentence."""
    if manifest.load_config is None:
        return None
    if path is None:
        raise ValueError(f"the {manifest.name} backend needs a config file")
    return manifest.load_config(path)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    endpoint: str
    ok: bool
    detail: str  # "3 records", "BackendAuthFailed: answered 401", ...


async def probe(backend: SchoolBackend, student_code: str = "") -> list[ProbeResult]:
    """Ask the school system each kind of question once ("test before configure")."""
    results: list[ProbeResult] = []

    async def ask(name: str, call: Any) -> Any:
        try:
            value = await call
        except BackendError as err:
            results.append(ProbeResult(name, False, f"{type(err).__name__}: {err}"))
            return None
        if isinstance(value, list | tuple):
            detail = f"{len(value)} record(s)"
        else:
            detail = "found" if value is not None else "nothing found"
        results.append(ProbeResult(name, True, detail))
        return value

    caps = backend.capabilities
    info = await ask("school_info", backend.school_info())
    await ask("classes", backend.classes())
    if Capability.STAFF in caps:
        await ask("teachers", backend.teachers())
    if not student_code:
        results.append(
            ProbeResult("find_student", False, "no sample student code to try (check.student_code)")
        )
        return results
    student = await ask("find_student", backend.find_student(student_code))
    if student is None:
        if results[-1].ok:
            results[-1] = ProbeResult("find_student", False, "the sample student was not found")
        return results
    await ask("get_student", backend.get_student(student.id))
    await ask("guardians", backend.guardians(student.id))
    term = info.current_term if info is not None else Term.HK1
    if Capability.SCORES in caps:
        await ask("scores", backend.scores(student.id, term))
    if Capability.TIMETABLE in caps:
        await ask("timetable", backend.timetable(student.class_id))
    if Capability.FEES in caps:
        await ask("fees", backend.fees(student.id))
    if Capability.ATTENDANCE in caps:
        await ask("attendance", backend.attendance(student.id))
    if Capability.CHANGES in caps:  # what changed in the last day (nothing is notified)
        now = dt.datetime.now(dt.UTC)
        batch = await ask("changes", backend.changes_since(now - dt.timedelta(days=1), now=now))
        if batch is not None:
            results[-1] = ProbeResult("changes", True, f"{len(batch.changes)} change(s) in a day")
    return results
