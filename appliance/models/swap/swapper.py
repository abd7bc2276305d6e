"""Blue/green model swaps: check, budget, load beside, probe, swap at a turn boundary, remember.

One swap at a time (a second is refused with ``swap-in-progress``).  Every
refusal happens before anything running is touched, so the old engine simply
stays; the swap itself only moves references on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from appliance.control.controller import Core
from appliance.core.errors import ApplianceError
from appliance.core.events import ModelSwapped
from appliance.engines.loader import Engines
from appliance.models.manifest import sha256_file
from appliance.models.swap.checks import (
    ROLES,
    Candidate,
    SwapError,
    check_budget,
    check_model,
    check_role,
    mem_available,
)
from appliance.models.swap.roles import Role, roles
from appliance.models.swap.state import (
    ModelState,
    Selection,
    configured_ref,
    with_ref,
)
from appliance.settings import ModelSwapSettings, Settings

_LOGGER = logging.getLogger(__name__)

TURN_BOUNDARY_WAIT_S = 30.0
"""How long a swap waits for the running turn to end; after that it swaps anyway (the turn keeps its engine)."""


class ModelSwapper:
    """Swaps the running models; ``last`` holds the figures of the latest swap."""

    def __init__(
        self,
        core: Core,
        engines: Engines,
        state: ModelState,
        settings: ModelSwapSettings,
        *,
        available: Callable[[], int] = mem_available,
        role_engines: Mapping[str, Role] | None = None,
    ) -> None:
        self.core = core
        self.engines = engines
        self.state = state
        self.settings = settings
        self._available = available
        self._roles = dict(role_engines or roles())
        self._lock = asyncio.Lock()
        self.file_refs = {role: self._file_ref(role) for role in ROLES}
        """Each role's model as the config file names it (what a remembered choice was made over)."""
        self.last: dict[str, Any] = {}
        self.reloaded: list[str] = []
        """Roles the latest reload swapped."""

    def _file_ref(self, role: str) -> str:
        ref = configured_ref(self.core.settings, role)
        chosen = self.state.selected.get(role)
        return chosen.over if chosen is not None and chosen.ref == ref and chosen.over else ref

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def running(self, role: str) -> Selection:
        """What runs now for ``role``: the remembered choice if it is the one in the settings, else the settings'."""
        ref = configured_ref(self.core.settings, role)
        chosen = self.state.selected.get(role)
        if chosen is not None and chosen.ref == ref:
            return chosen
        spec = self.core.registry.specs.get(ref)
        sha = spec.files[0].sha256 if spec is not None and spec.files else ""
        return Selection(role, ref, ref if spec else ref.rsplit("/", 1)[-1], sha[:12], sha, 0.0, ref, "config")

    # -- commands -------------------------------------------------------------------
    async def use(self, role: str, ref: str, *, via: str = "use", settings: Settings | None = None) -> dict[str, Any]:
        """Check, load beside, probe and swap in ``ref`` for ``role``; SwapError leaves the old one running.

        ``settings`` (a reload's) are what the new engine is built with; default: the running ones.
        """
        check_role(role)
        if self._lock.locked():
            raise SwapError("swap-in-progress", "another model swap is running; try again when it has finished")
        async with self._lock:
            return await self._swap(role, ref, via, settings or self.core.settings)

    async def rollback(self, role: str) -> dict[str, Any]:
        """Swap back to the model that ran before the last swap of ``role``."""
        check_role(role)
        before = self.state.previous.get(role)
        if before is None:
            raise SwapError("no-previous-model", f"{role} has not been swapped yet: there is nothing to roll back to")
        return await self.use(role, before.ref, via="rollback")

    def history(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.state.history]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {role: _brief(self.running(role)) for role in ROLES}
        out["swapping"] = self.busy
        if self.last:
            out["last_swap"] = dict(self.last)
        return out

    # -- the swap -------------------------------------------------------------------------
    async def _swap(self, role: str, ref: str, via: str, settings: Settings) -> dict[str, Any]:
        started = time.perf_counter()
        running = self.running(role)
        candidate = await asyncio.to_thread(check_model, role, ref, self.core.registry)
        check_budget(candidate, self.settings.memory_margin_mb, self._available())
        engine, figures = await asyncio.to_thread(self._load_and_probe, role, candidate, settings)
        sha = candidate.sha256 or await asyncio.to_thread(_fingerprint, candidate)

        def install() -> None:  # references only: nothing here can fail half-way
            self._roles[role].install(engine, self.core, self.engines)
            self.core.settings = with_ref(self.core.settings, role, candidate.ref)

        waited = await self._at_turn_boundary(install)
        chosen = Selection(role, candidate.ref, candidate.name, candidate.version or sha[:12], sha, time.time())
        over = self.file_refs[role]
        self.state.record(_over(chosen, over, via), running=running if running.ref != candidate.ref else None)
        figures.update(role=role, name=candidate.name, sha256=sha, via=via, turn_wait_s=waited, total_s=_since(started))
        figures["previous"] = running.name
        self.last = figures
        self.core.bus.publish(
            ModelSwapped(
                role=role, model=candidate.name, previous=running.name, sha256=sha, via=via, seconds=figures["total_s"]
            )
        )
        _LOGGER.info("Swapped %s: %s -> %s (%s)", role, running.name, candidate.name, figures)
        return figures

    def _load_and_probe(self, role: str, candidate: Candidate, settings: Settings) -> tuple[Any, dict[str, Any]]:
        """On a worker thread: the new engine, loaded and warmed up beside the old one, and its figures."""
        handler = self._roles[role]
        t0 = time.perf_counter()
        try:
            engine = handler.load(candidate, settings, self.core.registry)
        except SwapError:
            raise
        except ApplianceError as err:  # the engine's own loader said no: a file that only looked right
            raise SwapError("model-corrupt", f"{candidate.name} could not be loaded: {err.message}") from err
        load_s = _since(t0)
        rss_loaded = _rss_bytes()
        t1 = time.perf_counter()
        answer = handler.probe(engine, self.core)
        probe_s = _since(t1)
        if probe_s > self.settings.probe_max_s:
            raise SwapError(
                "model-too-slow",
                f"{candidate.name} took {probe_s:.2f} s on its probe; models.probe_max_s allows "
                f"{self.settings.probe_max_s:g} s",
            )
        rss_peak = max(rss_loaded, _rss_bytes())
        return engine, {
            "load_s": load_s,
            "probe_s": probe_s,
            "probe": answer[:80],
            "rss_peak_mb": round(rss_peak / 1e6, 1),
        }

    async def _at_turn_boundary(self, install: Callable[[], None]) -> float:
        """Run ``install`` when no turn runs: now, or as the running turn finishes; returns seconds waited.

        The running turn's end is the boundary: ``install`` runs inside its finish, before anything
        can start the next turn, so that turn (and every later one) makes its attempts on the new engine.
        A turn that outlasts the wait keeps the engines its attempts were made with.
        """
        pipeline, started = self.core.pipeline, time.monotonic()
        if pipeline.turn is None:
            install()
            return 0.0
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def at_turn_end(record: object) -> None:
            if not done.done():
                install()
                done.set_result(None)

        pipeline.on_turn_finished.append(at_turn_end)
        try:
            await asyncio.wait_for(asyncio.shield(done), TURN_BOUNDARY_WAIT_S)
        except asyncio.TimeoutError:
            _LOGGER.warning("No turn boundary in %.0f s: swapping beside the running turn", TURN_BOUNDARY_WAIT_S)
            at_turn_end(None)
        finally:
            pipeline.on_turn_finished.remove(at_turn_end)
        return round(time.monotonic() - started, 3)

    # -- reload -----------------------------------------------------------------------------
    async def reload(self, new_file: Settings) -> tuple[Settings, dict[str, Any]]:
        """Swap each role whose model a reloaded file changed (wake words: the controller's own reload).

        Returns the settings to run with (a refused model's role keeps the running one) and what happened.
        """
        wanted = self.state.effective(new_file)
        swapped, refused = [], {}
        for role in ("llm", "stt", "tts"):
            ref = configured_ref(wanted, role)
            if ref == configured_ref(self.core.settings, role):
                continue
            self.file_refs[role] = configured_ref(new_file, role)
            try:
                await self.use(role, ref, via="reload", settings=wanted)
                swapped.append(role)
            except ApplianceError as err:
                refused[role] = err.as_dict()
        for role in ("llm", "stt", "tts"):
            wanted = with_ref(wanted, role, configured_ref(self.core.settings, role))
        self.reloaded = swapped
        return wanted, {"swapped": swapped, "refused": refused}


def _over(selection: Selection, over: str, via: str) -> Selection:
    return Selection(**{**asdict(selection), "over": over, "via": via})


def _brief(selection: Selection) -> dict[str, Any]:
    return {"name": selection.name, "ref": selection.ref, "sha256": selection.sha256, "since": selection.swapped_in}


def _fingerprint(candidate: Candidate) -> str:
    """sha256 of a model given by path (a directory: of its largest file, the weights)."""
    path = candidate.path
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        if not files:
            return ""
        path = max(files, key=lambda p: p.stat().st_size)
    return sha256_file(path)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)
