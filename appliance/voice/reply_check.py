"""Every LLM reply checked before it is spoken: no notes read out, no clock contradicted, no action claimed.

A :class:`ReplyCheck` is made once per reply from what the model was given
(a :class:`CheckContext`: the request, this turn's notes, the earlier turns in
the prompt, the clock; :class:`~appliance.voice.reply_checker.ReplyChecker`
reads them out of the prompt) and then asked about each piece of the reply
before it is synthesized (:meth:`ReplyCheck.check`).  It answers None, or the reason code
of the first rule the piece breaks:

- ``marker``: the prompt's scaffolding read out: "(Note: …", "Notes:", a
  bracketed or labelled line, "Remembered (2 hours ago, you talked)".
- ``note``: text copied from this turn's notes (:data:`COPY_WORDS` words in a
  row that the request does not have), or two of a note's words in a row ("your
  daughter's birthday"), or three or more of one note's words, when the request
  shares no word with that note (a remembered fact read out as the answer to
  "thank you").  The day's note counts as related when the request asks for the
  date or time.  A note the request is about may be used:
  "Your sister is called Anna." for "What's my sister called?".
- ``earlier``: text copied from an earlier turn in the prompt (either side),
  unless the request asks for it again ("say that again").
- ``clock``: a weekday, date, year, part of day or time that contradicts the
  clock, said of today or now ("It's Monday morning, 5 December 2026." on
  Monday 7 December), or a weekday that is not the date's ("Monday 5 December 2026").
- ``action``: a home or skill action claimed or promised ("I turned on…",
  "I've added…", "Timer set for…", "I'll dim…") in a turn where no intent ran:
  the LLM's reply path never acts, so anything it says it did did not happen.

Everything is regular expressions and set lookups over a few dozen words: about
0.1 ms a piece, nothing beside the voice's synthesis.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from appliance.core.chunker import SentenceChunker

REASONS = ("marker", "note", "earlier", "clock", "action")
COPY_WORDS = 5
"""Words in a row copied from a note or an earlier turn that make a copy (and not all of them the request's)."""
UNRELATED_WORDS = 3
"""A note's own words a reply may carry when the request has none of them ("wifi password fridge" for "thanks")."""

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP_WORDS = (
    "a an the and or but if of to in on at by for with from into about as is are was were be been being "
    "am do does did done have has had i i'm i've i'll i'd me my mine you you're your yours we our us he "
    "she it it's its they them their this that these those there here what which who whom whose when "
    "where why how not no yes so too very can could will would shall should may might must just now then "
    "than also any some all each up down out over again once only own same such more most other s t don't "
    "can't won't isn't aren't let let's please thanks thank okay ok oh hey well sure like get got go "
    "going one "
)
_STOP = frozenset(_STOP_WORDS.split())
"""Words that say nothing of what a text is about."""

_MARKER = re.compile(
    r"""(?ix)
    ^\s*[(\[{<]                                  # a piece that opens with a bracket: "(Note: …", "[today=…"
    | [\[\]{}<>|] | \b[a-z]+=\w                  # brackets, pipes, key=value: scaffolding, never speech
    | \bnotes?\s*(?:[:,(]|,?\s+not\s+from)       # "Note:", "Notes, not from the user"
    | \bnot\ from\ the\ user\b
    | \bremember(?:ed|s)\s*[:(]                  # "Remembered:", "Remembered (2 hours ago, …"
    | \byou\ talked\b
    | \b(?:context|background|request|known|today|room|user|asked|said)\s*:  # a layout's labels
    | \bthe\ user\b                               # the prompt's word for the listener, never said to them
    | \(\s*\d+\s+(?:minutes?|hours?|days?)\s+ago
    | <\|
    """
)
_AGAIN = re.compile(r"(?i)\b(?:again|repeat|what did you (?:just )?say|say that|one more time|pardon)\b")
_EARLIER = re.compile(r"(?i)\b(?:earlier|before|last time|yesterday|what did i|did i (?:ask|say|tell))\b")
"""A request about the conversation so far: the earlier requests may be said back."""
_COMMAND = re.compile(
    r"(?i)^\W*(?:(?:hey|ok(?:ay)?|jarvis|please|can you|could you|would you|will you|i want you to)\W+)*"
    r"(?:turn|switch|set|dim|brighten|lock|unlock|open|close|start|stop|pause|resume|play|add|remove|put|delete"
    r"|cancel|wake|remind|raise|lower|increase|decrease|mute|unmute|make)\b"
)
"""A request that asks the appliance to act (as opposed to asking it something)."""
_STATE = re.compile(
    r"(?i)\b(?:lights?|lamps?|door|heating|fan|tv|music|volume|timer|alarm|reminder)\s+(?:is|are)\s+(?:now\s+)?"
    r"(?:on|off|locked|unlocked|dimmed|up|down|paused|stopped|playing|set|running|open|closed)\b"
    r"|\b(?:will|'ll)\s+(?:now\s+)?(?:be\s+)?(?:turn(?:ed)?|switch(?:ed)?|go|goes)\s+(?:on|off|out)\b"
)
"""A state said as the outcome of a command ("The kitchen light is on." after "turn on the kitchen light")."""

_ACTED = re.compile(
    r"""(?ix)
    \bi(?:'ve|\s+have|'ll|\s+will|\s+just|\s+now|\s+already|\s+also|\s+went\s+ahead\s+and|\s+successfully)*\s+
      (?:turned|switched|set|changed|dimmed|brightened|added|removed|deleted|locked|unlocked|opened|closed
        |started|stopped|paused|resumed|scheduled|cancell?ed|adjusted|raised|lowered|increased|decreased
        |muted|unmuted|reminded|put|played|booked|created|saved|noted|updated)\b
    | \bi(?:'ll|\s+will|'m\s+going\s+to|\s+am\s+going\s+to|'m|\s+am)\s+
      (?:now\s+|just\s+|make\s+sure\s+to\s+|go\s+ahead\s+and\s+|also\s+|right\s+away\s+)*
      (?:turn|switch|set|change|dim|brighten|add|remov|delet|lock|unlock|open|clos|start|stop|paus|resum
        |schedul|cancel|adjust|rais|lower|increas|decreas|mut|unmut|remind|wak|play|creat|sav|updat)(?:e|es|ing)?\b
    | ^\s*(?:ok(?:ay)?,?\s+|alright,?\s+|sure,?\s+|done[.!,]\s+)?
      (?:turned|switched|set|changed|dimmed|brightened|added|removed|deleted|locked|unlocked|paused|stopped
        |started|resumed|scheduled|cancell?ed|adjusted|raised|lowered|increased|decreased|muted|unmuted)\s+
        (?!by\b|of\b|in\b)\w
    | \b(?:timer|alarm|reminder|light|lights|lamp|volume|music)s?\s+(?:is\s+|are\s+|has\s+been\s+|have\s+been\s+)?
      (?:now\s+)?(?:set|started|scheduled|created|added|turned|switched|dimmed|locked|paused|stopped|cancell?ed)\b
    | \b(?:next|your)\s+(?:alarm|timer|reminder)s?\s+(?:is|are|will\s+be)\s+(?:set\s+|scheduled\s+)?
      (?:for|at|in|on)?\s*\d
    | \b(?:has|have)\s+been\s+(?:turned|switched|set|added|removed|locked|unlocked|dimmed|paused|stopped|cancell?ed)\b
    | ^\s*(?:ok(?:ay)?,?\s+)?(?:all\s+)?done\s*[.!]?\s*$
    | ^\s*(?:ok(?:ay)?,?\s+|sure,?\s+)?(?:setting|turning|switching|adding|removing|reminding|dimming|locking
        |unlocking|pausing|stopping|starting|playing|scheduling|cancell?ing)\s+(?:you|up|on|off|the|a|an|your|it)\b
    """
)

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for m in names
}
_DAY = r"(?P<d{n}>\d{{1,2}})(?:st|nd|rd|th)?"
_MONTH = r"(?P<m{n}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?:,?\s+(?P<y{n}>\d{{4}}))?"
_DATE = re.compile(
    r"(?i)\b(?:"
    + f"{_DAY.format(n=1)}(?:\\s+of)?\\s+{_MONTH.format(n=1)}{_YEAR.format(n=1)}"
    + f"|{_MONTH.format(n=2)}\\s+(?:the\\s+)?{_DAY.format(n=2)}{_YEAR.format(n=2)}"
    + r"|(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2})"
    + r")\b"
)
_NOW = (
    r"(?:today(?:'s\s+date)?\s+is|today\s*,|it\s+is|it's|its|the\s+date\s+(?:today\s+)?is"
    r"|the\s+current\s+date\s+is|now\s+is|this\s+is)"
)
_WEEKDAY_NOW = re.compile(
    r"(?i)\b(?P<when>today\s+is|today's|it\s+is|it's|its|the\s+(?:week)?day(?:\s+of\s+the\s+week)?\s+(?:today\s+)?is"
    r"|tomorrow\s+is|tomorrow\s+will\s+be|yesterday\s+was)\s+(?:a\s+|an\s+|the\s+)?(?:\w+\s+)?(?P<wd>"
    + "|".join(_WEEKDAYS)
    + r")\b"
)
_DATE_NOW = re.compile(
    r"(?i)\b"
    + _NOW
    + r"\s+(?:now\s+)?(?:(?:a|the)\s+)?(?:\w+day,?\s+)?(?:(?:morning|afternoon|evening|night),?\s+)?(?:the\s+)?$"
)
_YEAR_NOW = re.compile(
    r"(?i)\b(?:it\s+is|it's|the\s+(?:current\s+)?year\s+is|this\s+year\s+is|the\s+date\s+(?:today\s+)?is)"
    r"\s+(?P<y>\d{4})\b(?!-)"
)
_MONTH_NAMES = "january|february|march|april|may|june|july|august|september|october|november|december"
_MONTH_NOW = re.compile(
    r"(?i)\b(?:today|it\s+is|it's|this)\b[^.!?]{0,40}?\bmonth\s+of\s+(?P<m>" + _MONTH_NAMES + r")\b"
    r"|\b(?:it\s+is|it's|the\s+(?:current\s+)?month\s+is)\s+(?:now\s+)?(?P<m2>" + _MONTH_NAMES + r")\b(?!\s+\d)"
)
_PART_NOW = re.compile(
    r"(?i)\b(?:it\s+is|it's|its|this|today\s+is)\s+(?:a\s+|an\s+)?(?:(?:lovely|beautiful|fine|nice|good|\w+day)\s+)*"
    r"(?P<part>morning|afternoon|evening|night)\b|\bgood\s+(?P<greet>morning|afternoon|evening)\b"
)
_TIME_NOW = re.compile(
    r"(?i)\b(?:it\s+is|it's|its|the\s+(?:current\s+)?time\s+is|the\s+time\s+now\s+is|now)\s+(?:now\s+|exactly\s+|about\s+|around\s+)?"
    r"(?P<h>\d{1,2})(?:[:.](?P<min>\d{2}))?(?::\d{2})?\s*(?P<ampm>a\.?\s?m\b\.?|p\.?\s?m\b\.?|o'clock)?"
)
_ASKS_NOW = re.compile(
    r"(?i)\b(?:what(?:'s|\s+is)?\s+(?:the\s+)?(?:date|day|weekday|time|year|month)|what\s+day|what\s+time"
    r"|(?:tell|give)\s+me\s+the\s+(?:date|day|time)|which\s+day|is\s+it\s+(?:monday|tuesday|wednesday|thursday"
    r"|friday|saturday|sunday|the\s+weekend|morning|evening|night))\b"
)
"""A request for the date, the day or the time: every date, weekday or time in the reply is said of now."""
_BARE_TIME = re.compile(
    r"(?i)\b(?P<h>\d{1,2})(?:[:.](?P<min>\d{2})(?::\d{2})?\s*(?P<ampm>a\.?\s?m\b\.?|p\.?\s?m\b\.?|o'clock)?"
    r"|\s*(?P<ampm2>a\.?\s?m\b\.?|p\.?\s?m\b\.?|o'clock))"
)
_PARTS = {
    "morning": range(4, 13),
    "afternoon": range(11, 19),
    "evening": range(16, 24),
    "night": (*range(20, 24), *range(0, 6)),
}
"""Hours each part of day may be said at (overlapping by an hour or two: "evening" at five is not wrong)."""
TIME_SLACK_MIN = 10


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (apostrophes kept, typographic ones made plain)."""
    return _WORD.findall(text.lower().replace("’", "'"))


def _content(ws: Iterable[str]) -> set[str]:
    """The words that say what a text is about (numbers up to four digits included: a day, a year)."""
    return {_stem(w) for w in ws if (w.isdigit() and len(w) <= 4) or (not w.isdigit() and w not in _STOP)}


def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _pairs(ws: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent content words (stemmed)."""
    stems = [_stem(w) if w not in _STOP and not w.isdigit() else "" for w in ws]
    return {(a, b) for a, b in pairwise(stems) if a and b}


def _grams(ws: Sequence[str], n: int = COPY_WORDS) -> set[tuple[str, ...]]:
    return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}


@dataclass(frozen=True)
class CheckContext:
    """What the model was given for one reply, and the moment it answers at."""

    request: str
    now: dt.datetime
    """The appliance's clock in its own zone."""
    notes: Sequence[str] = ()
    """This turn's notes, one per item: remembered facts, the context providers' facts, the mood (not the
    day, and not past turns: they are :attr:`asked` and :attr:`said`)."""
    day: str = ""
    """The day's note: a reply may use it when the request asks for the date or time, and must not read it
    out otherwise (SmolLM2 began replies to "play some jazz" with it, then the other notes)."""
    asked: Sequence[str] = ()
    """The user's earlier requests in the prompt (the running conversation's, remembered turns')."""
    said: Sequence[str] = ()
    """The appliance's earlier replies in the prompt."""
    acted: bool = False
    """An intent ran in this turn (the LLM's own reply path: never)."""


@dataclass
class _Note:
    grams: set[tuple[str, ...]]
    content: set[str]
    related: bool
    pairs: set[tuple[str, str]] = field(default_factory=set)
    """Two content words in a row ("daughter's birthday", "wifi password"): said together, they are the note's."""


@dataclass
class ReplyCheck:
    """One reply's check; :meth:`check` each piece before it is spoken."""

    ctx: CheckContext
    _notes: list[_Note] = field(default_factory=list)
    _earlier: set[tuple[str, ...]] = field(default_factory=set)
    _command: bool = False
    _asked_now: bool = False

    def __post_init__(self) -> None:
        request = words(self.ctx.request)
        asked, own = _content(request), _grams(request)
        self._asked_now = bool(_ASKS_NOW.search(self.ctx.request))
        for note in self.ctx.notes:
            ws = words(note)
            content = _content(ws) - asked
            related = bool(_content(ws) & asked)
            self._notes.append(_Note(_grams(ws) - own, content, related, _pairs(ws) - _pairs(request)))
        if self.ctx.day:
            ws = words(self.ctx.day)
            self._notes.append(_Note(_grams(ws) - own, _content(ws) - asked, self._asked_now))
        again, about_earlier = bool(_AGAIN.search(self.ctx.request)), bool(_EARLIER.search(self.ctx.request))
        for text in () if again else self.ctx.said:
            self._earlier |= _grams(words(text)) - own
        for text in () if again or about_earlier else self.ctx.asked:
            self._earlier |= _grams(words(text)) - own
        self._command = bool(_COMMAND.search(self.ctx.request))

    def check(self, piece: str, before: str = "") -> str | None:
        """The reason ``piece`` may not be spoken, or None; ``before`` is the piece said just before it
        (a claim may span the cut between two pieces: "It's Monday morning, | 5 December.")."""
        text = f"{before} {piece}".strip() if before else piece
        if _MARKER.search(piece):
            return "marker"
        ws = words(text)
        grams, content = _grams(ws), _content(ws)
        pairs = _pairs(ws)
        for note in self._notes:
            if not note.related and (
                grams & note.grams or pairs & note.pairs or len(content & note.content) >= UNRELATED_WORDS
            ):
                return "note"
        if grams & self._earlier:
            return "earlier"
        if clock_error(text, self.ctx.now, asked_now=self._asked_now, greeted=self.ctx.request):
            return "clock"
        if not self.ctx.acted and any(_ACTED.search(c) or (self._command and _STATE.search(c)) for c in _clauses(text)):
            return "action"
        return None


def _clauses(text: str) -> list[str]:
    return [c for c in re.split(r"(?<=[.!?;:])\s+|,\s+(?=(?:and\s+)?i\b)", text.strip()) if c]


def clock_error(text: str, now: dt.datetime, *, asked_now: bool = False, greeted: str = "") -> str | None:
    """What in ``text`` contradicts ``now`` (a short description, no words of the text), or None; ``asked_now``:
    the request asked for the date or time, so a bare date, weekday or time is said of now; ``greeted``: the
    request, whose "good morning" may be answered in kind at any hour."""
    today = now.date()
    if asked_now:
        for m in re.finditer(r"(?i)\b(" + "|".join(_WEEKDAYS) + r")\b", text):
            if _WEEKDAYS.index(m.group(1).lower()) != today.weekday() and not _DATE.search(text):
                return "weekday"
    for m in _WEEKDAY_NOW.finditer(text):
        when = m.group("when").lower()
        day = today + dt.timedelta(days=1 if when.startswith("tomorrow") else -1 if when.startswith("yesterday") else 0)
        if _WEEKDAYS.index(m.group("wd").lower()) != day.weekday():
            return "weekday"
    for m in _DATE.finditer(text):
        said = _date_of(m, today)
        if said is None:
            continue
        lead = text[: m.start()].lower()
        named = re.search(r"(\w+day)\W*$", lead)  # "Monday, 5 December"
        if named and named.group(1) in _WEEKDAYS and _WEEKDAYS.index(named.group(1)) != said.weekday():
            return "weekday-of-date"
        about_now = asked_now or _DATE_NOW.search(lead[-60:])
        if about_now and (said.month, said.day, said.year) != (today.month, today.day, today.year):
            return "date"
    for m in _YEAR_NOW.finditer(text):
        if int(m.group("y")) != today.year:
            return "year"
    for m in _MONTH_NOW.finditer(text):
        if _MONTHS[(m.group("m") or m.group("m2")).lower()] != today.month:
            return "month"
    for m in _PART_NOW.finditer(text):
        part = (m.group("part") or m.group("greet") or "").lower()
        if m.group("greet") and f"good {part}" in greeted.lower():
            continue
        if part and now.hour not in _PARTS[part]:
            return "part-of-day"
    for m in _TIME_NOW.finditer(text):
        if (m.group("min") is not None or m.group("ampm")) and not _time_fits(m, now):
            return "time"
    if asked_now:
        for m in _BARE_TIME.finditer(text):
            if not _time_fits(m, now):
                return "time"
    return None


def _date_of(m: re.Match[str], today: dt.date) -> dt.date | None:
    for n in "123":
        if m.group(f"d{n}"):
            day, month, year = m.group(f"d{n}"), m.group(f"m{n}"), m.group(f"y{n}")
            try:
                number = int(month) if month.isdigit() else _MONTHS[month.lower()]
                return dt.date(int(year) if year else today.year, number, int(day))
            except (KeyError, ValueError):
                return None
    return None


def _time_fits(m: re.Match[str], now: dt.datetime) -> bool:
    hour, minute = int(m.group("h")), int(m.group("min") or 0)
    if hour > 23 or minute > 59:
        return False
    ampm = (m.group("ampm") or m.groupdict().get("ampm2") or "").lower().replace(".", "").replace(" ", "")
    if ampm.startswith("pm") and hour < 12:
        hours = [hour + 12]
    elif ampm.startswith("am"):
        hours = [0 if hour == 12 else hour]
    else:
        hours = [hour, (hour + 12) % 24] if hour <= 12 else [hour]
    said = [h * 60 + minute for h in hours]
    at = now.hour * 60 + now.minute
    return any(min(abs(s - at), 1440 - abs(s - at)) <= TIME_SLACK_MIN for s in said)


def first_failure(check: ReplyCheck, text: str, first_chunk_chars: int = 0) -> tuple[str, int] | None:
    """(reason, pieces before it) of the first piece of a whole ``text`` that fails ``check``, cut as the
    reply path cuts a streamed reply (:class:`~appliance.core.chunker.SentenceChunker`); None if all pass."""
    chunker = SentenceChunker(first_chunk_chars)
    pieces = chunker.push(text)
    if (rest := chunker.flush()) is not None:
        pieces.append(rest)
    before = ""
    for i, piece in enumerate(pieces):
        if (why := check.check(piece, before)) is not None:
            return why, i
        before = piece
    return None
