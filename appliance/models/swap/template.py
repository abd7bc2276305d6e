"""A GGUF's chat template rendered in a child process, under a deadline and a memory cap.

The template is Jinja code that came with the file.  llama.cpp's sandbox stops
file and attribute access, but not a loop that never ends or a string that
grows to gigabytes, and a thread cannot be stopped from outside.  So before
a model is loaded the swap renders its template here, in a fresh interpreter
(``python -m appliance.models.swap.template``) whose address space is capped
(``RLIMIT_AS``) and which is killed at the deadline.  What the render grew the
child by is part of the load's memory budget.

Only the standard library and Jinja are imported: the child starts in ~0.1 s.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

EXIT_MEMORY = 3
EXIT_TEMPLATE = 4
PAGE = 4096


@dataclass(frozen=True)
class TemplateRender:
    """How rendering went: ``outcome`` is ``ok``, ``slow``, ``memory`` or ``error`` (``detail`` says what)."""

    outcome: str
    seconds: float
    grown: int = 0
    """Bytes the render added to the child's resident memory (ok only)."""
    chars: int = 0
    """Length of the longest prompt rendered (ok only)."""
    detail: str = ""


def render_in_child(
    template: str,
    *,
    bos: str,
    eos: str,
    conversations: list[list[dict[str, str]]],
    limit_bytes: int,
    timeout_s: float,
) -> TemplateRender:
    """Render ``template`` for each conversation in a child capped at ``limit_bytes`` more memory."""
    request = json.dumps(
        {
            "template": template,
            "bos": bos,
            "eos": eos,
            "conversations": conversations,
            "limit": limit_bytes,
            "cpu_s": math.ceil(timeout_s) + 1,
        }
    )
    start = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "appliance.models.swap.template"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )
    try:
        out, _ = child.communicate(request.encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return TemplateRender("slow", time.monotonic() - start)
    seconds = time.monotonic() - start
    try:
        answer: dict[str, Any] = json.loads(out or b"{}")
    except ValueError:
        answer = {}
    if child.returncode == 0 and "grown" in answer:
        return TemplateRender("ok", seconds, int(answer["grown"]), int(answer["chars"]))
    if child.returncode == EXIT_MEMORY or child.returncode < 0:  # a MemoryError, or killed under the cap
        return TemplateRender("memory", seconds)
    return TemplateRender("error", seconds, detail=str(answer.get("error", f"exit {child.returncode}"))[:200])


def _resident() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE


def _cap(extra: int, cpu_s: int) -> None:
    """Address space: what the child has now plus ``extra``.  CPU time: the kernel ends a child
    whose parent died (SIGTERM) before it could kill it at the deadline."""
    with open("/proc/self/statm", encoding="ascii") as f:
        size = int(f.read().split()[0]) * PAGE
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, size + extra))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))


def _render(request: dict[str, Any]) -> tuple[int, int]:
    """As llama-cpp-python's Jinja2ChatFormatter renders; returns (bytes grown, longest prompt)."""
    from datetime import datetime

    from jinja2 import BaseLoader
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    before = _resident()
    # Capped before compiling: Jinja folds constant expressions ('x' * 10**10) as it compiles.
    _cap(int(request["limit"]), int(request["cpu_s"]))
    environment = ImmutableSandboxedEnvironment(loader=BaseLoader(), trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(request["template"])
    chars = 0
    for messages in request["conversations"]:
        prompt = template.render(
            messages=messages,
            eos_token=request["eos"],
            bos_token=request["bos"],
            raise_exception=raise_exception,
            add_generation_prompt=True,
            strftime_now=lambda f: datetime.now().strftime(f),
        )
        chars = max(chars, len(prompt))
        del prompt
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before), chars


def main() -> int:
    try:
        grown, chars = _render(json.loads(sys.stdin.read()))
    except MemoryError:
        return EXIT_MEMORY
    except Exception as err:  # noqa: BLE001 - any template failure is the answer, sent to the parent
        print(json.dumps({"error": f"{type(err).__name__}: {err}"[:400]}))
        return EXIT_TEMPLATE
    print(json.dumps({"grown": grown, "chars": chars}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
