"""Print the pinned requirements of the Home Assistant integrations the tests start, one a line.

Run with the Home Assistant venv's Python: ``ha_requirements.py DOMAIN...``. It follows the rule
Home Assistant's own requirements manager uses on its first start (an integration's
``dependencies`` and ``after_dependencies``, and the discovery integrations its manifest names),
from the integrations every start sets up plus the DOMAINs given, so that the tests can start
Home Assistant with ``--skip-pip`` and nothing is ever installed while they run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from homeassistant import bootstrap, components, requirements


def manifest(domain: str) -> dict | None:
    path = Path(components.__file__).parent / domain / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def closure(domains: set[str]) -> list[str]:
    """Every requirement of ``domains`` and what they depend on, in a stable order."""
    seen: set[str] = set()
    todo = sorted(domains)
    found: dict[str, None] = {}
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        info = manifest(domain)
        if info is None:  # an after-dependency that is not built in (e.g. an old name)
            continue
        found.update(dict.fromkeys(info.get("requirements", [])))
        todo.extend(info.get("dependencies", []) + info.get("after_dependencies", []))
        for check_domain, keys in requirements.DISCOVERY_INTEGRATIONS.items():
            if any(key in info for key in keys):
                todo.append(check_domain)
    return sorted(found, key=str.lower)


def main() -> None:
    always = (
        bootstrap.CORE_INTEGRATIONS
        | bootstrap.LOGGING_AND_HTTP_DEPS_INTEGRATIONS
        | bootstrap.FRONTEND_INTEGRATIONS
        | bootstrap.DEFAULT_INTEGRATIONS
    )
    print("\n".join(closure(set(always) | set(sys.argv[1:]))))


if __name__ == "__main__":
    main()
