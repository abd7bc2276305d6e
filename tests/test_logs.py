"""scripts/logs --bundle keeps the household's words on the board (no install needed: a bare --prefix)."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOG = """\
2026-12-01T08:00:01 appliance[12]: event wake {'model': 'hey_jarvis', 'score': 0.93}
2026-12-01T08:00:03 appliance[12]: event transcript {'text': "it's my PIN, 4711", 'confidence': 0.91}
2026-12-01T08:00:05 appliance[12]: event reply {'text': 'I will remember 4711.', 'seconds': 1.4}
08:00:05 app[1]: event turn {'turn_id': 3, 'transcript': 'secret plan', 'reply': 'Noted.', 'outcome': 'answered'}
2026-12-01T08:00:06 appliance[12]: mqtt {"event_type":"reply","text":"I will remember \\"4711\\".","seconds":1.4}
2026-12-01T08:00:07 appliance[12]: The model is unsure about 'open the safe' ('x' leads by 0.10); asking
"""


def bundle(tmp_path: Path, *extra: str, log: str = LOG) -> str:
    prefix = tmp_path / "board"
    logs = prefix / "var/log/appliance"
    logs.mkdir(parents=True)
    (logs / "appliance.log").write_text(log)
    out = tmp_path / "report.tar.gz"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APPLIANCE_CONFIG")}
    result = subprocess.run(
        [str(ROOT / "scripts/logs"), "--prefix", str(prefix), "--bundle", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(out) as tar:
        return tar.extractfile("./journal.txt").read().decode()  # type: ignore[union-attr]


def test_the_bundle_scrubs_transcripts_and_replies(tmp_path):
    journal = bundle(tmp_path)
    for said in ("4711", "PIN", "secret plan", "Noted.", "open the safe"):
        assert said not in journal, said
    assert "'text': \"<scrubbed 17 chars>\"" in journal and "'outcome': 'answered'" in journal
    assert "'score': 0.93" in journal and "'turn_id': 3" in journal  # what a bug report needs stays
    assert "(scrub_log: 6 transcript/reply values replaced by their length)" in journal


def test_with_speech_keeps_the_text_when_asked(tmp_path):
    assert "secret plan" in bundle(tmp_path, "--with-speech")


SPEECH_LINES = """\
2026-12-07T08:00:01 appliance[12]: INFO appliance.voice.turn: Turn 3: 'my PIN is' does not end a request; listening on
2026-12-07T08:00:02 appliance[12]: INFO appliance.voice.turn: Turn 4: speech resumed after "it's 4711", before the reply
2026-12-07T08:00:03 appliance[12]: INFO appliance.engines.llm.local: LLM reply began like an earlier one ('Your PIN'); \
generating it again
2026-12-07T08:00:04 app[12]: INFO appliance.runtime.daemon: Demo: heard 'open the safe', replied 'PIN 4711.' (answered)
2026-12-07T08:00:05 appliance[12]: WARNING appliance.runtime.app: event error {'code': 'tts-failed', 'message': \
"could not synthesize 'PIN\\\\x00 4711': embedded null byte", 'stage': 'tts'}
2026-12-07T08:00:06 appliance[12]: WARNING appliance.skills.feature: No announce port: take the PIN 4711 to the bank
2026-12-07T08:00:07 app[12]: DEBUG appliance.runtime.app: event timer {'id': 2, 'label': 'PIN 4711', 'kind': 'timer'}
2026-12-07T08:00:08 appliance[12]: WARNING appliance.runtime.app: event error {'code': 'tts-failed', 'message': \
'could not synthesize a text of 12 characters (ValueError)', 'stage': 'tts'}
"""


def test_the_bundle_scrubs_every_line_that_quotes_what_was_said(tmp_path):
    journal = bundle(tmp_path, log=SPEECH_LINES)
    for said in ("PIN", "4711", "open the safe", "bank"):
        assert said not in journal, said
    assert "Turn 3: '<scrubbed 9 chars>' does not end a request" in journal
    assert "'could not synthesize a text of 12 characters (ValueError)'" in journal  # no speech in it: kept
    assert "(scrub_log: 8 transcript/reply values replaced by their length)" in journal
