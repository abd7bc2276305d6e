"""``appliance models list|verify|path|fetch|prepare`` here, ``use|rollback|history`` through the daemon."""

from __future__ import annotations

import argparse
import json
import sys

from appliance.models.registry import ModelRegistry
from appliance.settings import Settings


def default_models(settings: Settings, registry: ModelRegistry) -> list[str]:
    """What the daemon loads with this configuration (and the test recordings)."""
    names = {"oww-melspectrogram", "oww-embedding", settings.llm.model, settings.tts.voice}
    names.update(m for m in settings.wake.models if m in registry.specs)
    if settings.stt.engine == "whisper":
        names.add(settings.stt.model)
    elif settings.stt.vosk_model:
        names.add(settings.stt.vosk_model)
    if settings.vision.enabled:
        names.add(settings.vision.face_model)
        if settings.vision.person_detector == "onnx":
            names.add(settings.vision.person_model)
    if settings.memory.enabled:
        names.add(settings.memory.embedding_model)
    return [n for n in registry.specs if n in names]


def models_command(settings: Settings, args: argparse.Namespace) -> int:
    action = args.models_command
    if action in ("use", "rollback", "history"):
        from appliance.models.swap.cli import swap_command

        return swap_command(settings, args)
    registry = ModelRegistry(settings.state_dir, show_progress=True)
    if action == "list":
        rows = [registry.status(name).as_dict() for name in registry.specs]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"{'name':26} {'role':14} {'source':6} {'size':>9}  state")
            for row in rows:
                hint = "" if row["state"] != "missing" else f"  (install: {row['install']})"
                print(
                    f"{row['name']:26} {row['role']:14} {row['source']:6} {row['size'] / 1e6:8.1f}M"
                    f"  {row['state']}{hint}"
                )
        return 0
    if action == "verify":
        names = args.names or [n for n in registry.specs if registry.status(n).state != "missing"]
        rows = [registry.status(name, verify=True).as_dict() for name in names]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for row in rows:
                print(f"{row['name']:26} {row['state']}")
        return 0 if all(row["state"] == "ok" for row in rows) else 1
    if action == "path":
        print(registry.resolve(args.name))
        return 0
    if action == "fetch":
        print(registry.fetch(args.name))
        return 0
    names = default_models(settings, registry) + registry.names("recording")
    for name in names:
        registry.resolve(name)
    if settings.memory.enabled:  # unpack the embedding model and build its onnxruntime graph once, now
        from appliance.engines.embedding import load_embedder

        m = settings.memory
        load_embedder(m.embedding_model, registry.resolve, m.embedding_backend)
    print(f"models ready: {', '.join(names)}", file=sys.stderr)
    return 0
