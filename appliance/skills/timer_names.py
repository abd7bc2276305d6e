"""Which running timer a request means by its words: "the eggs" for the egg timer, "is the pizza done"."""

from __future__ import annotations

from appliance.skills.engine import Skills


def forms(name: str) -> set[str]:
    """A name with its last word singular and plural ("egg" → "egg", "eggs"; "potatoes" → "potato")."""
    said = name.strip().lower()
    if not said:
        return set()
    found = {said, f"{said}es" if said.endswith(("s", "x", "ch", "sh", "o")) else f"{said}s"}
    if said.endswith("es"):
        found.add(said[:-2])
    if said.endswith("s") and not said.endswith("ss"):
        found.add(said[:-1])
    return found


def running_name(skills: Skills, name: str) -> str:
    """``name`` as the running timer is called when only its number differs ("eggs" → "egg"); else ``name``."""
    if not name:
        return name
    names = [t.name for t in skills.timers() if t.name]
    if any(n.lower() == name.lower() for n in names):
        return name
    close = [n for n in names if n.lower() in forms(name)]
    return close[0] if len(close) == 1 else name


def mentioned(skills: Skills, said: str) -> str:
    """The one running timer whose name the request says ("how long until the eggs are done" → "egg"), or ""."""
    padded = f" {said} "
    names = {t.name for t in skills.timers() if t.name}
    hits = [n for n in names if any(f" {form} " in padded for form in forms(n))]
    return hits[0] if len(hits) == 1 else ""
