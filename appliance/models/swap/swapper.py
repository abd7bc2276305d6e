"""Blue/green model swaps: check, budget, load beside, probe, swap at a turn boundary, remember, close.

One swap at a time (a second is refused with ``swap-in-progress``).  Every
refusal happens before anything running is touched, so the old engine simply
stays (a candidate that was loaded is closed); the swap itself only moves
references on the event loop, and the engine it replaced is closed at once.
Each stage runs on a daemon thread under a deadline (:mod:`.deadline`): the
checks and the load under ``models.load_max_s``, the chat template (in a child
process) under :data:`TEMPLATE_MAX_S`, the probe under ``models.probe_max_s``; a stage that overruns is
refused as ``model-too-slow`` and the next swap may start at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from appliance.control.controller import Core
from appliance.core.errors import ApplianceError
from appliance.core.events import ModelSwapped
from appliance.core.procstat import trim_heap
from appliance.engines.loader import Engines
from appliance.models.swap.checks import (
    ROLES,
    Candidate,
    SwapError,
    check_budget,
    check_model,
    check_role,
    check_template,
    load_cost,
    mem_available,
    sha256_regular,
)
from appliance.models.swap.cost import LoadCost
from appliance.models.swap.deadline import within
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
TEMPLATE_MAX_S = 5.0
"""Deadline for rendering a chat template (or ``models.probe_max_s`` if shorter): a real one renders in
0.1-0.3 s with the child's start-up, so a template that needs seconds is looping."""
CLOSE_WAIT_S = 10.0
"""How long a swap waits for the replaced engine to close (a turn that outlasted the boundary still holds it);
after that it answers, and the engine closes when that turn lets go."""


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
        self._pending = 0
        self._pending_lock = threading.Lock()
        """Bytes that abandoned stages (still loading on their threads) may yet take: not free for the next swap."""
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
        candidate, cost = await self._checked(role, ref, settings)
        engine, figures = await self._load_and_probe(role, candidate, settings, cost.total)
        try:
            sha = candidate.sha256 or await self._stage(
                "sha256", lambda: _fingerprint(candidate), self.settings.load_max_s, candidate.name
            )
        except BaseException:
            self._close(role, engine, "it was refused")
            raise
        old: list[Any] = []

        def install() -> None:  # references only: nothing here can fail half-way
            old.append(self._roles[role].install(engine, self.core, self.engines))
            self.core.settings = with_ref(self.core.settings, role, candidate.ref)

        waited = await self._at_turn_boundary(install)
        if old and old[0] is not None and old[0] is not engine:
            await self._close_replaced(role, old[0])
        chosen = Selection(role, candidate.ref, candidate.name, candidate.version or sha[:12], sha, time.time())
        over = self.file_refs[role]
        self.state.record(_over(chosen, over, via), running=running if running.ref != candidate.ref else None)
        figures.update(role=role, name=candidate.name, sha256=sha, via=via, turn_wait_s=waited, total_s=_since(started))
        figures["previous"] = running.name
        figures["estimate_mb"] = round(cost.total / 1e6, 1)
        self.last = figures
        self.core.bus.publish(
            ModelSwapped(
                role=role, model=candidate.name, previous=running.name, sha256=sha, via=via, seconds=figures["total_s"]
            )
        )
        _LOGGER.info("Swapped %s: %s -> %s (%s)", role, running.name, candidate.name, figures)
        return figures

    async def _checked(self, role: str, ref: str, settings: Settings) -> tuple[Candidate, LoadCost]:
        """The candidate, past its file checks, its chat template and the memory budget, and what it will cost."""
        load_max_s, margin_mb = self.settings.load_max_s, self.settings.memory_margin_mb
        candidate = await self._stage("check", lambda: check_model(role, ref, self.core.registry), load_max_s, ref)
        available = self._available() - self._pending
        weights = load_cost(candidate, settings.llm, 0)
        check_budget(candidate.name, weights, margin_mb, available)  # before spending a child process on it
        limit = available - margin_mb * 1024 * 1024 - weights.total
        template = await self._stage(
            "template",
            lambda: check_template(candidate, settings.llm, limit_bytes=limit, timeout_s=self._template_max_s),
            self._template_max_s + 5.0,  # the child is killed at its deadline; this bounds its start
            candidate.name,
        )
        cost = load_cost(candidate, settings.llm, template)
        check_budget(candidate.name, cost, margin_mb, available)
        return candidate, cost

    async def _stage(self, stage: str, work: Callable[[], Any], seconds: float, name: str) -> Any:
        """``work`` on a daemon thread; SwapError ``model-too-slow`` when it passes ``seconds``."""
        try:
            return await within(work, seconds, name=f"swap-{stage}")
        except TimeoutError:
            raise SwapError(
                "model-too-slow", f"{name[:200]}: the {stage} stage did not end in {seconds:g} s; swap refused"
            ) from None

    async def _load_and_probe(
        self, role: str, candidate: Candidate, settings: Settings, cost: int
    ) -> tuple[Any, dict[str, Any]]:
        """The new engine, loaded and probed beside the old one (each under its deadline), and its figures.

        A load that overruns is abandoned: its memory counts as taken until its thread ends and closes it.
        """
        handler = self._roles[role]
        t0 = time.perf_counter()
        self._reserve(cost)

        def load() -> Any:
            try:
                return handler.load(candidate, settings, self.core.registry)
            finally:
                self._reserve(-cost)  # the thread ended: what it took shows in MemAvailable now

        try:
            engine = await within(
                load, self.settings.load_max_s, name="swap-load", discard=lambda e: self._release(role, e)
            )
        except TimeoutError:
            raise SwapError(
                "model-too-slow", f"{candidate.name} did not load in {self.settings.load_max_s:g} s (models.load_max_s)"
            ) from None
        except SwapError:
            raise
        except ApplianceError as err:  # the engine's own loader said no: a file that only looked right
            raise SwapError("model-corrupt", f"{candidate.name} could not be loaded: {err.message}") from err
        load_s = _since(t0)
        rss_loaded = _rss_bytes()
        t1 = time.perf_counter()
        cancel = threading.Event()

        def probe() -> str:
            return handler.probe(engine, self.core, cancel)

        try:
            answer = await within(probe, self.settings.probe_max_s, name="swap-probe")
        except TimeoutError:
            cancel.set()  # the LLM stops at its next token; close waits for that
            self._close(role, engine, "its probe was too slow")
            raise SwapError(
                "model-too-slow",
                f"{candidate.name} did not answer its probe in {self.settings.probe_max_s:g} s (models.probe_max_s)",
            ) from None
        except BaseException:
            self._close(role, engine, "its probe failed")
            raise
        probe_s = _since(t1)
        rss_peak = max(rss_loaded, _rss_bytes())
        return engine, {
            "load_s": load_s,
            "probe_s": probe_s,
            "probe": answer[:80],
            "rss_peak_mb": round(rss_peak / 1e6, 1),
        }

    @property
    def _template_max_s(self) -> float:
        return min(self.settings.probe_max_s, TEMPLATE_MAX_S)

    def _reserve(self, nbytes: int) -> None:
        with self._pending_lock:
            self._pending += nbytes

    def _close(self, role: str, engine: Any, why: str) -> None:
        """Close a candidate that will not be used, on a thread of its own (it may wait for its probe to stop)."""
        _LOGGER.info("Closing the %s candidate: %s", role, why)
        threading.Thread(target=self._release, args=(role, engine), name="swap-close", daemon=True).start()

    def _release(self, role: str, engine: Any) -> None:
        """Close ``engine`` and hand the freed heap back (not left for the garbage collector and malloc)."""
        self._roles[role].close(engine)
        trim_heap()

    async def _close_replaced(self, role: str, engine: Any) -> None:
        """Close the engine a swap replaced; a turn still using it delays that (up to :data:`CLOSE_WAIT_S`)."""
        try:
            await within(lambda: self._release(role, engine), CLOSE_WAIT_S, name="swap-close")
        except TimeoutError:
            _LOGGER.warning("The replaced %s engine is still in use; it closes when its turn ends", role)
        except Exception:  # the swap has happened: a failure to free the old engine must not undo that
            _LOGGER.exception("Closing the replaced %s engine failed", role)

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
    return sha256_regular(path)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)
