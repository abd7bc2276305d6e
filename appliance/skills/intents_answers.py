"""Clock and calendar, arithmetic and units, lists, and the device by voice."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable

from appliance.skills.calc import calculate
from appliance.skills.clock import (
    date_answer,
    date_of_answer,
    days_until_answer,
    time_answer,
    weekday_answer,
)
from appliance.skills.engine import LIST_ALIASES
from appliance.skills.errors import SkillError
from appliance.skills.numbers import parse_number, spoken_number, words
from appliance.skills.phrasing import split_items
from appliance.skills.units import parse_conversion
from appliance.skills.voice import (
    SkillContext,
    acting,
    refusal,
    saying,
)
from appliance.skills.when import (
    HOLIDAYS,
    MONTHS,
    WEEKDAYS,
    scan,
)
from appliance.voice.reply import Intent

_TIME = re.compile(
    r"^(?:what(?:'s| is)? the time(?: now| right now| please)?|what time is it(?: now| right now)?|what time it is|"
    r"(?:tell|give) me the time|(?:do you (?:know|have)|have you got) the time|time|(?:the )?current time|"
    r"what's the time now|what time is it please)"
    r"(?:(?: in)? here|(?: now| please)?(?: and)? "
    r"(?:i|we|my|mummy|mum|mommy|mom|dad|daddy|because|cause|cos|i'm|we're)\b.*)?$"
)
"""The time asked, alone or followed by why ("what time is it now, my mum says I have to know"); not elsewhere."""
_DATE = re.compile(
    r"^(?:what(?:'s| is)? (?:the |today's |todays )?date(?: today| is it| today please)?|what date is it(?: today)?|"
    r"(?:tell me )?(?:the )?(?:today's|todays) date|what is the date today|date)$"
)
_WEEKDAY = re.compile(
    r"^(?:what day (?:is it|is today|of the week is it|is it today)(?: today)?|what's today|which day is it|"
    r"(?:what|which) day's (?:it|today)|"
    r"(?:today is|today's|it's|it is) (?:what|which) day(?: of the week)?(?: today)?)$"
)
_DATE_BACK = re.compile(r"^(?:today is|today's|it's|it is) (?:what|which) date(?: today)?$")
"""The question word last: "today is what date", "today is which day"."""
_DATE_OF = re.compile(r"^(?:what(?:'s| is) the date|what date is|what day is|what day does|what date does|"
                      r"(?:what|which) (?:date|day) (?:will it be|will|is it|would it be)) (?P<x>.+?)"
                      r"(?: fall on| fall| land on| on| be)?$")  # fmt: skip
_UNTIL = re.compile(
    r"^(?:how many (?:more )?(?:days|sleeps)(?: are there| is it| are left| left| to go| remaining| more)* "
    r"(?:until|till|til|to|before)|"
    r"how long (?:is it |is there |is left )?(?:until|till|til|to go until|before)|"
    r"(?:count|count down|countdown) (?:the )?(?:days|sleeps) (?:until|till|til|to|before)|"
    r"(?:days|sleeps)(?: left)? (?:until|till|til|to|before)) (?P<x>.+)$"
)
"""Days to a date, said many ways: "how many more days till …", "count the days to …", "days left before …"."""
_CALC = re.compile(
    r"^(?:what(?:'s| is| are)|whats|calculate|compute|work out|how much is|solve|tell me|what do you get (?:if|when) "
    r"you (?:do|take)?|what does) (?P<e>.+?)(?: equal| equals| make| come to)?$"
)
_MONEY = re.compile(r"(?<=\w) (?:pounds?|quid|dollars?|bucks|euros?|pence|cents?)\b|[£$€]")
"""Currency said with an amount; the sum is the same without it (conversions between currencies are not done)."""
_LIST_NAME = r"(?P<list>shopping|grocery|groceries|to do|to-do|todo|task|tasks)"
_LIST_TAIL = rf"(?: the| my| our)? (?:{_LIST_NAME} list|{_LIST_NAME.replace('list>', 'list2>')}|list)$"
_ADD = re.compile(
    rf"^(?:(?:add|put|stick|pop|write|also add) (?P<items>.+?) (?:to|on|onto|in|on to){_LIST_TAIL}"
    rf"|(?P<bare>.+?) (?:to|onto)(?: the| my| our)? {_LIST_NAME.replace('list>', 'list3>')} list$)"
)
"""The verb may be missing before a named list: Whisper base hears Piper's "Add milk to the
shopping list" as "And milk …", and "and" is dropped as a filler ("milk to the shopping list")."""
_REMOVE = re.compile(
    rf"^(?:remove|take|delete|cross|strike|scratch|tick|check|mark) (?:off )?(?P<items>.+?) "
    rf"(?:off|from|off of){_LIST_TAIL}"
    rf"|^(?:tick|check|cross|strike|mark) off (?P<ticked>.+?) (?:on|in)"
    + _LIST_TAIL.replace("list>", "list4>").replace("list2>", "list5>")
)
"""Off a list; ticked off one as a done task is ("tick off feed the fish on my to-do list")."""
_DONE = re.compile(
    r"^(?:mark|tick off|check off|cross off) (?P<items>.+?) (?:as )?(?:done|complete|completed|finished)$"
)
"""A task marked as done is off the to-do list: "mark pay the bills as done"."""
_REMOVE_AFTER = re.compile(
    rf"^(?:(?:we|i)(?:'ve| have)? (?:got|bought|done|finished|picked up) )?(?P<items>.+?)"
    rf"(?:(?:'s|'re| is| are| was| were)?(?: been| now| already| all)* (?:bought|done|sorted|got|finished|picked up))?"
    rf" and (?:take|cross|tick|strike|scratch|remove|delete|mark) (?:it|them|that|those|this)(?: off)? "
    rf"(?:off|from|off of){_LIST_TAIL}"
)
"""The item said first, then taken off: "the light bulbs are bought, cross them off the shopping list"."""
_ADD_LIST_FIRST = re.compile(
    rf"^(?:on|to|onto|for|in)(?: the| my| our)? {_LIST_NAME} list(?: and)? (?:please )?"
    rf"(?:add|put|write|stick|pop|i need|we need)(?: down)? (?P<items>.+)$"
)
"""The list named first: "on the shopping list, put oat milk"."""
_SHOW = re.compile(
    rf"^(?:what(?:'s| is)|whats|read(?: me)?|tell me what's|show me|what do i have|what have i got|what's) "
    rf"(?:on|in)?{_LIST_TAIL}"
)
_SHOW_PLAIN = re.compile(rf"^(?:read(?: me)?|show(?: me)?|check)(?: the| my| our) (?:{_LIST_NAME} )?list$")
_CLEAR = re.compile(rf"^(?:clear|empty|delete|wipe|erase|reset|clear out)(?: the| my| our) (?:{_LIST_NAME} )?list$")
_CLEAR_ALL = re.compile(
    rf"^(?:clear|delete|remove|wipe|erase|take|cross|strike|scratch)(?: off| out)? "
    rf"(?:everything|all(?: the)? items|all(?: the)? things|all of it|every item|the lot|all)"
    rf"(?: off| out)? (?:on|in|from|off|off of){_LIST_TAIL}"
)
"""Everything off a list at once: "wipe everything off my to-do list", "remove all items from the list"."""
_ADD_AFTER = re.compile(
    rf"^(?:(?:we|i)(?:'ve| have)? (?:need|want|run out of|ran out of|need some|are out of) |"
    rf"(?:we're|were|we are|i'm|i am) (?:out of|low on|running low on|running out of|nearly out of) )?"
    rf"(?P<items>.+?) and (?:add|put|stick|pop|write) "
    rf"(?:it|them|that|those|some)(?: down)? (?:to|on|onto|in){_LIST_TAIL}"
)
"""The item said first, then the list: "we're low on rice, put it on the shopping list"."""
_ADD_NOTHING = re.compile(rf"^(?:add|put) (?:something |an item |a thing )?(?:to|on|onto){_LIST_TAIL}")
_HOLIDAY_WORDS = {w for key in HOLIDAYS for w in key}
_PROPER = {*WEEKDAYS, *MONTHS, "christmas", "halloween", "new", "year's", "years", "eve", "valentine's", "valentines"}


def match_clock(ctx: SkillContext, s: str) -> Intent | None:
    """Time, date, day of the week, the date of a named day, days until a date."""
    if _TIME.match(s):
        return clock_time(ctx)
    if _DATE.match(s) or _DATE_BACK.match(s):
        return clock_date(ctx)
    if _WEEKDAY.match(s):
        return clock_weekday(ctx)
    for pattern, name in ((_UNTIL, "clock.days_until"), (_DATE_OF, "clock.date_of")):
        m = pattern.match(s)
        if m is None:
            continue
        said = m["x"].removeprefix("on ").strip()
        found = scan(words(said), ctx.now())
        if name == "clock.date_of" and found.relative_s and found.time is None and found.date is None:
            found.date = (ctx.now() + dt.timedelta(seconds=found.relative_s)).date()  # "what date is it in ten days"
            found.relative_s = None
        if found.date is None or found.time is not None or found.relative_s is not None:
            if name == "clock.days_until" and not re.search(r"\btimer|alarm\b", said):
                return saying(name, "I didn't catch which day.", {"error": "date"})
            return None
        shown = " ".join(w.capitalize() if w in _PROPER else w for w in said.split())
        answer = days_until_answer if name == "clock.days_until" else date_of_answer
        data: dict[str, object] = {"date": found.date.isoformat()}
        return Intent(name, "", _about_day(ctx, answer, shown, found.date), data, pure=True)
    return None


def clock_time(ctx: SkillContext) -> Intent:
    """The time now (worked out when answered: the clock moves between match and commit)."""
    return Intent(
        "clock.time", "", _answer(lambda: time_answer(ctx.now(), clock_24h=ctx.settings.clock_24h)), pure=True
    )


def clock_date(ctx: SkillContext) -> Intent:
    """Today's date."""
    return Intent("clock.date", "", _answer(lambda: date_answer(ctx.now())), pure=True)


def clock_weekday(ctx: SkillContext) -> Intent:
    """Today's day of the week."""
    return Intent("clock.weekday", "", _answer(lambda: weekday_answer(ctx.now())), pure=True)


def _about_day(
    ctx: SkillContext, answer: Callable[[str, dt.date, dt.datetime], str], shown: str, date: dt.date
) -> Callable[[], Awaitable[str | None]]:
    return _answer(lambda: answer(shown, date, ctx.now()))


def _answer(compute: Callable[[], str]) -> Callable[[], Awaitable[str | None]]:
    """An action that computes its answer when committed (the clock moves between match and commit)."""

    async def act() -> str | None:
        return compute()

    return act


def match_calc(ctx: SkillContext, s: str) -> Intent | None:
    """Arithmetic ('what is seven times eight') and unit conversions ('three inches in centimetres')."""
    try:
        conversion = parse_conversion(s)
    except SkillError as err:
        return refusal("convert", err)
    if conversion is not None:
        return saying("convert", _sentence(conversion.speech()), {"value": round(conversion.result, 4)})
    if _MONEY.search(s):  # "twenty percent of sixty pounds": the sum without its currency
        s = _MONEY.sub("", s).strip()
    m = _CALC.match(s)
    for expression in ((m["e"],) if m else ()) + (s,):
        try:
            calc = calculate(expression)
        except SkillError as err:
            return refusal("calc", err)
        if calc is not None:
            return saying("calc", _sentence(calc.speech()), {"value": calc.value})
    if s.startswith("convert "):
        return saying("convert", "I didn't catch what to convert.", {"error": "convert"})
    return None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _list_of(m: re.Match[str]) -> str:
    found = m.groupdict()
    said = next((found[k] for k in ("list", "list2", "list3", "list4", "list5") if found.get(k)), "shopping")
    return LIST_ALIASES.get(said, "shopping")


def match_list(ctx: SkillContext, s: str) -> Intent | None:
    """Shopping and to-do lists: add several, remove, read, clear."""
    if m := _ADD_AFTER.match(s):
        return list_add(ctx, _list_of(m), split_items(m["items"]))
    if m := _ADD_NOTHING.match(s):
        return saying("list.add", "What should I add?", {"list": _list_of(m), "error": "items"})
    if m := _ADD.match(s):
        return list_add(ctx, _list_of(m), split_items(m["items"] or m["bare"]))
    if m := _ADD_LIST_FIRST.match(s):
        return list_add(ctx, _list_of(m), split_items(m["items"]))
    if m := _REMOVE_AFTER.match(s):
        return list_remove(ctx, _list_of(m), split_items(m["items"]))
    if m := _CLEAR_ALL.match(s):
        return list_clear(ctx, _list_of(m))
    if m := _DONE.match(s):
        return list_remove(ctx, "to-do", split_items(m["items"]))
    if m := _REMOVE.match(s):
        return list_remove(ctx, _list_of(m), split_items(m["items"] or m["ticked"]))
    if m := (_SHOW.match(s) or _SHOW_PLAIN.match(s)):
        return list_show(ctx, _list_of(m))
    if m := _CLEAR.match(s):
        return list_clear(ctx, _list_of(m))
    return None


# -- the list actions: called by these rules and by appliance.understanding --------------------------------------
_NO_ITEM = frozenset({"something", "a thing", "thing", "an item", "item", "stuff", "some stuff", "it", "them"})
"""Words that hold an item's place without naming one: "put something on the to-do list" asks back."""


def list_add(ctx: SkillContext, name: str, items: list[str]) -> Intent:
    """Add ``items`` to the list ``name`` ("shopping" or "to-do")."""
    if not items or all(item in _NO_ITEM for item in items):
        return saying("list.add", "What should I add?", {"list": name, "error": "items"})

    def said(added: list[str]) -> str:
        if not added:
            return f"{_join(items)} {'is' if len(items) == 1 else 'are'} already on your {name} list."
        return f"Added {_join(added)} to your {name} list."

    def likely() -> str:  # what is not on the list yet, read without adding
        there = {item.lower() for item in ctx.skills.list_show(name)}
        return said([item for item in items if item.lower() not in there])

    return acting(
        "list.add", "Okay.", lambda: said(ctx.skills.list_add(name, items)), {"list": name, "items": items},
        expect=likely,
    )  # fmt: skip


_WHOLE_LIST = frozenset({"everything", "all", "all items", "all the items", "all things", "all the things", "all of it",
                         "every item", "every thing", "lot", "whole lot", "whole list", "it all"})  # fmt: skip
"""Items that are the whole list: "remove everything from the shopping list" empties it."""


def list_remove(ctx: SkillContext, name: str, items: list[str]) -> Intent:
    """Take ``items`` off the list ``name`` (all of them: :func:`list_clear`)."""
    if len(items) == 1 and items[0] in _WHOLE_LIST:
        return list_clear(ctx, name)

    def remove() -> str:
        gone = ctx.skills.list_remove(name, items)
        if not gone:
            return f"{_join(items)} {'is' if len(items) == 1 else 'are'}n't on your {name} list."
        return f"Removed {_join(gone)} from your {name} list."

    return acting("list.remove", "Okay.", remove, {"list": name, "items": items})


def list_show(ctx: SkillContext, name: str) -> Intent:
    """Read the list ``name``."""

    def show() -> str:
        items = ctx.skills.list_show(name)
        if not items:
            return f"Your {name} list is empty."
        return f"Your {name} list has {len(items)} thing{'s' if len(items) != 1 else ''}: {_join(items)}."

    return acting("list.show", "Let me check.", show, {"list": name})


def list_clear(ctx: SkillContext, name: str) -> Intent:
    """Empty the list ``name``."""

    def said(count: int) -> str:
        return f"Cleared your {name} list." if count else f"Your {name} list was already empty."

    def likely() -> str:
        return said(len(ctx.skills.list_show(name)))

    return acting("list.clear", "Okay.", lambda: said(ctx.skills.list_clear(name)), {"list": name}, expect=likely)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_A_BIT = r"(?: (?:a bit|a little|a little bit|a touch|a tad|slightly|some|a notch|more|still|again|even more))?"
_UP = re.compile(
    r"^(?:(?:turn|crank|bump|pump) (?:it|the volume|the sound|the music|that) up|(?:volume|sound) up|"
    r"(?:a bit |a little )?louder|speak up|make it louder|(?:increase|raise|turn up|boost) the (?:volume|sound)|"
    rf"turn it up|turn up the volume|more loud|(?:more|higher) volume|louder){_A_BIT}$"
    r"|^i can(?:'t|not| not) (?:hear|understand) (?:you|that|it|the music|what you're saying)(?: very well| well)?$"
)
"""Louder, also said as a complaint: "I can't hear you"."""
_DOWN = re.compile(
    r"^(?:turn (?:it|the volume|the sound|the music|that) down|(?:volume|sound) down|softer|"
    r"(?:a bit |a little )?quieter|make it quieter|(?:decrease|lower|reduce|turn down) the (?:volume|sound)|"
    rf"turn it down|turn down the volume|less loud|not so loud|(?:less|lower) volume|quieter|softer){_A_BIT}$"
)
_SET_VOLUME = re.compile(
    r"^(?:(?P<verb>set|change|put|turn|make) )?(?:the )?(?:volume|sound)(?: level)? (?:to |at |on |level )?(?:the )?"
    r"(?P<n>.+?)(?P<pct> percent)?$"
)
_CLAUSE = re.compile(r" (?:please|and|because|cause|cos|as|since|so) ")
"""Where a volume request ends and the reason for it begins."""
_LEVEL_WORDS = {"max": 100, "maximum": 100, "full": 100, "full blast": 100, "the max": 100, "the maximum": 100,
                "half": 50, "halfway": 50, "half way": 50, "min": 0, "minimum": 0, "all the way up": 100,
                "all the way down": 0}  # fmt: skip
"""Volume levels said as words rather than numbers ("volume to max", "put the sound on half")."""
_STOP = re.compile(
    r"^(?:stop|stop it|stop that|stop talking|shut up|be quiet|quiet|silence|enough|that's enough|stop ringing|"
    r"stop the (?:ringing|music|sound|noise)|turn it off|off|hush|shush|shh+|sh+|stop now)$"
)
_NEVER_MIND = re.compile(
    r"^(?:(?:no|nah|oh|ah|actually|wait)(?: and)? )?(?:cancel|no|never ?mind|nevermind|forget it|forget about it|"
    r"cancel that|nothing|no thanks|no thank you|not now|it's ok|it's okay|never mind that|don't bother|"
    r"(?:don't|do not) (?:worry|bother)(?: about (?:it|that))?|no worries|leave it|"
    r"that's (?:all|it|everything)|that'll be all|nothing else)"
    r"(?:(?: and)? (?:i'll|i will|we'll|i can) (?:do|sort|handle|manage|get) (?:it|that|this)(?: out)?"
    r"(?: myself| ourselves)?(?: then| later| instead)?)?$"
)
_REPEAT = re.compile(
    r"^(?:repeat that|repeat|say that again|say it again|what did you say|come again|pardon|pardon me|sorry what|"
    r"repeat what you said|can you repeat that|could you repeat that|one more time|say again|"
    r"what did you (?:just )?say|say (?:that|it) (?:one more time|once more))$"
)
_HELP = re.compile(
    r"^(?:what can you do|what are you able to do|what can i ask(?: you)?|what can i say|help|help me|"
    r"what do you do|what are your skills|what skills do you have|what things can you do|"
    r"what (?:can|could) you help (?:me |us )?with|how can you help(?: me| us)?|what are you (?:good|useful) for|"
    r"what (?:sort|sorts|kind|kinds|type|types) of (?:things|stuff|questions|requests|commands) "
    r"(?:can|could|do|should) (?:i|we|you) (?:ask|say|do|help with)(?: you| to you| of you)?)$"
)
HELP = (
    "I can set timers and alarms, remind you of things, tell you the time and date, do sums and convert units, "
    "keep your shopping and to-do lists, control lights and devices, remember what you tell me, and answer questions."
)


def match_device(ctx: SkillContext, s: str) -> Intent | None:
    """Volume up/down/set, stop, never mind, repeat that, what can you do."""
    step = ctx.settings.volume_step
    device = ctx.device
    head = _CLAUSE.split(s, maxsplit=1)[0]  # "softer please, the baby is asleep": the request, then why
    if _UP.match(s) or _DOWN.match(s) or _UP.match(head) or _DOWN.match(head):
        return volume_step(ctx, step if _UP.match(s) or _UP.match(head) else -step)
    if (m := _SET_VOLUME.match(s)) and m["n"] in _LEVEL_WORDS and not m["pct"]:
        return volume_set(ctx, _LEVEL_WORDS[m["n"]])
    if m:
        found = parse_number(words(m["n"]), 0)
        if found is None and not m["verb"]:  # "the volume on the tv is stuck": said about a volume
            return None
        if found is None or found[1] != len(words(m["n"])):
            return saying("device.volume_set", "I didn't catch the volume.", {"error": "volume"})
        value = found[0] if m["pct"] or found[0] > 10 else found[0] * 10  # "volume 5": a 0–10 scale
        return volume_set(ctx, value)
    if _STOP.match(s) or _NEVER_MIND.match(s):
        return device_stop(ctx, "device.stop" if _STOP.match(s) else "device.cancel")
    if _REPEAT.match(s):

        async def repeat() -> str | None:
            last = device.last_reply() if device is not None else ""
            return last or "I haven't said anything yet."

        return Intent("device.repeat", "", repeat)
    if _HELP.match(s):
        return saying("help", HELP)
    return None


# -- the device actions: called by these rules and by appliance.understanding ------------------------------------
def volume_set(ctx: SkillContext, value: float) -> Intent:
    """Set the playback volume to ``value`` percent (refused in words outside 0–100)."""
    if not 0 <= value <= 100:
        return saying("device.volume_set", "The volume goes from 0 to 100 percent.", {"error": "range"})
    level = round(value)
    return Intent("device.volume_set", "Okay.", _volume(ctx, lambda current: level), {"level": level})


def volume_step(ctx: SkillContext, delta: int) -> Intent:
    """Raise (``delta`` > 0) or lower the volume by ``delta`` percent points; data["delta"] is positive."""
    name = "device.volume_up" if delta > 0 else "device.volume_down"
    return Intent(name, "Okay.", _volume(ctx, lambda current: current + delta), {"delta": abs(delta)})


def device_stop(ctx: SkillContext, name: str = "device.stop") -> Intent:
    """Silence what rings and drop what is playing (``device.stop``, ``device.cancel``, ``media.pause``)."""
    device = ctx.device

    async def stop() -> str | None:
        await ctx.stop_ringing()
        if device is not None:
            await device.stop()
        return ""

    return Intent(name, "", stop)


def _volume(ctx: SkillContext, change: Callable[[int], int]) -> Callable[[], Awaitable[str | None]]:
    async def act() -> str | None:
        device = ctx.device
        if device is None:
            return "I can't change the volume here."
        level = max(0, min(100, int(change(device.volume()))))
        device.set_volume(level)
        return f"Volume {spoken_number(level)} percent."

    return act
