"""Is it said as a request? The grammar the semantic layer checks before it places anything.

An embedding hears what a sentence is *about*, not what it *does*: "the kitchen timer
was a present" sits as close to the timers as "cancel the kitchen timer". So before a
request is placed, its form is read from its words, and only some forms may be:

- **request**: an imperative ("stretch the timer by two minutes"), a polite one ("could you …",
  "would you mind …"), or a fragment with no verb of its own ("kitchen lights on", "the time please").
- **question**: a wh- or yes/no question ("what's left on the timer", "is the porch light on"). Only
  intents that are asked as questions (the clock, timer status, reading a list, device state:
  ``form: question`` in the examples) take one.
- **statement**: "we're out of eggs", "it's too dark in here". A statement is a request only when it
  says the speaker wants or needs something, or that something here and now is wrong or done:
  :data:`REQUEST_MARKERS`. Opinions, habits, history and stories are not.
- **never**: why/who questions, how-to questions, questions about the past, advice ("should I …"),
  suggestions ("let's …"), words about words (translate, what does … mean) and requests for made-up
  content (a poem, a story, a recipe): for the LLM, whatever they mention.

Clauses are read apart ("I've lost track, what day is it"): the most request-like one counts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from appliance.home.phrases import PAST_VERBS, past_tense

FormKind = Literal["request", "question", "statement", "never"]

POLITE = re.compile(
    r"^(?:(?:can|could|would|will) (?:you|we) (?:please |kindly |just )?|would you (?:mind|be so kind as to) |"
    r"do you mind |(?:can|could|may) (?:i|we) (?:have|get) |i (?:want|need|would like|'d like) you to |"
    r"i'd like you to |go ahead and |please |kindly |just )"
)
"""A request put politely: what follows is read as an imperative."""
FILLERS = frozenset(
    {"oh", "ok", "okay", "hey", "so", "and", "but", "um", "uh", "er", "well", "right", "alright", "sorry", "oops"}
    | {"now", "yes", "yeah", "no", "actually", "hmm", "jarvis", "computer", "wait", "listen"}
)
WH = frozenset({"what", "what's", "whats", "wat", "wats", "which", "when", "when's", "how", "how's", "hows"})
NEVER_FIRST = frozenset(
    {"why", "why's", "who", "who's", "whom", "whose", "where", "where's", "should", "shall", "let's", "lets"}
    | {"isn't", "aren't", "wasn't", "weren't", "wouldn't", "shouldn't", "couldn't"}
)
"""Opening words of a sentence that is never a request to the appliance: the reason or the person
behind something, advice ("should I …"), suggestions ("let's …"), rhetorical questions ("isn't it …")."""
AUX = frozenset(
    {"is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "will", "would", "have", "has"}
    | {"may", "might", "must", "had"}
)
SUBJECTS = frozenset(
    {"i", "we", "you", "he", "she", "they", "it", "there", "someone", "somebody", "everyone", "everybody"}
    | {"i'm", "im", "i've", "ive", "i'd", "i'll", "we're", "we've", "we'd", "we'll", "it's", "its", "that's"}
    | {"thats", "there's", "theres", "you're", "youre", "he's", "she's", "they're", "they've", "nobody's"}
)
"""A clause that opens with one of these is a statement."""
FINITE = frozenset(
    {"is", "are", "was", "were", "be", "been", "do", "does", "did", "don't", "doesn't", "didn't", "isn't"}
    | {"aren't", "wasn't", "can", "can't", "cannot", "could", "couldn't", "will", "won't", "would", "should"}
    | {"must", "may", "might", "have", "has", "had", "need", "needs", "want", "wants", "make", "makes", "look"}
    | {"looks", "feel", "feels", "keep", "keeps", "use", "uses", "help", "helps", "go", "goes", "get", "gets"}
    | {"seem", "seems", "stay", "stays", "sound", "sounds", "work", "works", "like", "likes", "love", "loves"}
    | {"hate", "hates", "come", "comes", "take", "takes", "stress", "stresses", "remind", "reminds", "say"}
    | {"says", "know", "knows", "think", "thinks", "cost", "costs", "last", "lasts", "always", "never"}
    | {"usually", "often", "sometimes", "saves", "means", "wastes", "matters"}
)
"""Words that make a clause opening with a noun ("timers stress me out") a statement, not a fragment."""

REQUEST_MARKERS = re.compile(
    r"\b(?:i|we)(?: really| still| also| just| do)* (?:need|want|have to|must|got to|gotta|could use)\b"
    r"|\b(?:i|we)(?:'d| would)(?: really)? (?:like|love)\b|\bneeds?\b"
    r"|\b(?:don't|do not|doesn't|does not|no longer) (?:need|want)\b"
    r"|\btoo \w+|\b(?:can't|cannot|can not|can hardly|can barely|could hardly) (?:\w+ )?(?:hear|see)\b"
    r"|\bpitch (?:dark|black)\b|\b(?:dark|freezing|boiling|stuffy|chilly|hot|cold) in\b"
    r"|\b(?:it's|it is|its|i'm|i am|we're|we are) (?:\w+ )?(?:dark|freezing|boiling|stuffy|chilly|hot|cold)\b"
    r"|\bstill (?:on|running|going)\b|\bwasting\b|\b(?:nobody|no one|nobody's|no one's) (?:is )?in\b"
    r"|\b(?:we're|we are|i'm|i am|we've|i've|all|run|ran|running|nearly|almost|completely) (?:\w+ )?out of\b"
    r"|\blow on\b|\b(?:can|could|should|may) (?:go|come|continue|carry on|stop|be)\b|\benough\b|\bi'm done\b"
    r"|\byou (?:can|could|may|should)\b"
    r"|\b(?:a bit|a little|so|very|really|rather|quite) (?:loud|noisy|quiet|dark|bright|dim|hot|cold|warm)\b"
)
"""A statement that asks: a want or a need, something too much or too little here and now, or something
that may go."""
DONE_MARKERS = re.compile(
    r"\b(?:i|we)(?:'ve| have)?(?: already| just)? (?:bought|got|picked up|finished|used up)\b|\b(?:are|is) done\b"
    r"|\b(?:isn't|not|no longer) needed\b|\b(?:mistake|didn't mean|did not mean|wrong button|changed my mind)\b"
    r"|\b(?:doesn't|does not) matter\b|\b(?:i was|i'm|i am) (?:just )?(?:talking|speaking) to\b|\bthat(?:'s| is) all\b"
)
"""A statement in the past that still asks: something bought or done (off the list), or taking back what
was just said."""
NEVER_OPENING = re.compile(
    r"^how (?!long\b|much\b|many\b|far\b|late\b|soon\b|is\b|are\b|'s\b)|^how (?:is|are) .*\b\w{3,}ed$"
    r"|^(?:what|which|when|how)(?:'s)?\b.*\b(?:did|was|were)\b|^what if\b"
    r"|^(?:what's|whats|what is|which is) the (?:best|worst|difference|point|origin|history)\b"
    r"|^(?:what's|whats|what is|which is|what are) (?:a|an|some)? ?(?:good|great|nice|decent|cheap)\b"
)
"""How-to and property questions ("how do I …", "how accurate is …"), questions about the past, "what if",
and asking for advice or a recommendation ("what's the best way", "what's a good app"): never a request."""
NEVER = re.compile(
    r"\bdo you think\b|\bwhat (?:does|do|did) .* mean\b|\b(?:translate|translation|pronounce|spell|spelled|spelt)\b"
    r"|\bhow do you say\b|\bin (?:french|german|spanish|italian|latin|english|japanese|chinese|slang)\b"
    r"|\b(?:poem|poems|limerick|haiku|sonnet|story|stories|essay|riddle|joke|jokes|lullaby|rhyme|lyrics?)\b"
    r"|\b(?:recipe|recipes|ideas?|plan|trivia|history|invent|invented|discovered)\b|\b(?:song|tune) about\b"
    r"|^(?:explain|describe|summari[sz]e|suggest|recommend|compose|imagine|define|teach|draw|paint|sketch)\b"
    r"|\b(?:tips|advice|picture)\b"
    r"|\b(?:yesterday|last (?:night|week|weekend|month|year|summer|winter|spring|autumn|christmas|time)|ago)\b"
    r"|\b(?:used to|when i was)\b"
)
"""Words about words, made-up content (a poem, a story, a plan), the verbs that ask for it, and the past:
wherever they stand, for the LLM."""
SUBORDINATORS = frozenset(
    {"when", "where", "whether", "if", "what", "which", "that", "once", "until", "till", "before", "after", "while"}
    | {"as", "since", "because", "so", "sure", "how", "who", "whatever", "wherever"}
)
"""Words that open a clause of its own inside a request ("tell me *when* ten minutes have passed")."""
COPULAS = frozenset({"is", "are", "was", "were", "has", "have", "had", "does", "did"})
"""A finite verb after an imperative with nothing to bind it: the imperative was a name ("let it be *is* …")."""
SAYING = frozenset({"tell", "announce", "say", "remind", "check", "make", "ask", "ensure", "see", "know"})
"""Imperatives whose object is something to say or check, often a clause ("tell everyone dinner is ready")."""
OTHERS = frozenset({"his", "her", "their", "its", "all", "every", "no", "both", "each"})
"""More words that open a noun phrase: with a verb in the past, a story."""
DETERMINERS = frozenset({"the", "a", "an", "my", "your", "our", "this", "that", "these", "those", "some", "any"})
NOT_VERBS = frozenset(
    {"anything", "nothing", "enough", "never", "not", "please", "all", "no", "more", "less", "today's"}
)
"""Words that open requests without being verbs ("nothing", "more volume")."""
_CLAUSE = re.compile(r"[,;.!?:]+|\s+-\s+")
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Form:
    """How a sentence is said: its most request-like clause, and whether it carries a request marker."""

    kind: FormKind
    marked: bool = False
    """It says what it wants (:data:`REQUEST_MARKERS`) or that something is done (:data:`DONE_MARKERS`)."""
    focus: frozenset[str] = frozenset()
    """The words of its request clauses, when others are not requests ("it's friday, so pizza night"): the
    request must be said there, not only in the talk around it."""

    def allows(self, forms: Collection[str]) -> bool:
        """May an intent said in ``forms`` (besides a request) take a sentence of this form?"""
        if self.kind == "request":
            return True
        if self.kind == "question":
            return "question" in forms
        return self.kind == "statement" and self.marked


def sentence_form(text: str, verbs: Collection[str] = ()) -> Form:
    """The form of ``text`` (as said, punctuation kept); ``verbs`` are words that open an imperative."""
    said = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    said = re.sub(r"\bto[ -]do\b", "todo", said)  # the list's name, not a verb
    clauses = [c.strip() for c in _CLAUSE.split(said) if _WORD.search(c)]
    flat = " ".join(_WORD.findall(said))
    done = DONE_MARKERS.search(flat) is not None
    marked = done or REQUEST_MARKERS.search(flat) is not None
    kinds = [_clause(c, verbs, done) for c in clauses]
    if not kinds or "never" in kinds:
        return Form("never")
    ranked: tuple[FormKind, ...] = ("request", "question", "statement")
    for kind in ranked:
        if kind in kinds:
            mixed = kind == "request" and any(k != kind for k in kinds)
            focus = {w for k, c in zip(kinds, clauses, strict=True) if k == kind for w in _WORD.findall(c)}
            return Form(kind, marked, frozenset(focus) if mixed else frozenset())
    return Form("never")  # only a story told in the past


def _clause(clause: str, verbs: Collection[str], done: bool) -> FormKind | Literal["narration"]:
    """One clause's form; "narration" for a statement told in the past (unless it says something is done)."""
    words = _WORD.findall(clause)
    while words and words[0] in FILLERS:
        words = words[1:]
    if not words:
        return "statement"
    text = " ".join(words)
    polite = POLITE.match(text)
    if polite and polite.end() < len(text):
        text = text[polite.end() :]
        words = text.split()
        if NEVER_OPENING.search(text) or NEVER.search(text):
            return "never"
        if words[0] not in SUBJECTS:
            return "request"
    first = words[0]
    if first in NEVER_FIRST or NEVER_OPENING.search(text) or NEVER.search(text):
        return "never"
    if first in WH:
        return "question"
    if first in AUX:
        return "never" if first in ("was", "were", "had") else "question"
    if first not in SUBJECTS and (first in verbs or first in SAYING):
        if not _titled(words):
            return "request"
        return "narration" if not done and any(map(past_tense, words)) else "statement"
    finite = [w for w in words[1:] if w in FINITE or ("'" in w and w in SUBJECTS) or past_tense(w)]
    if first not in SUBJECTS and not finite and not _object_after_verb(words):
        return "request"  # a fragment with no verb of its own: "kitchen lights on", "the time please"
    if not done and first in SUBJECTS | DETERMINERS | OTHERS and any(past_tense(w) for w in words):
        return "narration"
    return "statement"


def _titled(words: list[str]) -> bool:
    """ "let it be is my favourite song": an imperative said as a name, the subject of a verb that follows it
    with nothing to bind it ("tell me when ten minutes *have* passed" binds it with "when")."""
    if words[0] in SAYING:  # "tell everyone dinner is ready": what to say follows
        return False
    for word in words[1:]:
        if word in SUBORDINATORS or (word in SUBJECTS and word != "it"):  # "forget I said anything"
            return False
        if word in COPULAS or word in PAST_VERBS:
            return True
    return False


def _object_after_verb(words: list[str]) -> bool:
    """ "timers stress me out": a word before an object pronoun is a verb, so the clause has one."""
    return any(w in ("me", "us", "him", "them") and i > 1 for i, w in enumerate(words))


def imperative_verbs(lines: Iterable[str]) -> frozenset[str]:
    """The words that open the examples' requests ("stretch", "cancel"), less the closed classes and the words
    the examples also use as nouns ("the list"); lines that open with a [value] say nothing about it."""
    said = [_WORD.findall(line.lower()) for line in lines if not line.lstrip().startswith("[")]
    firsts = {w[0] for w in said if w}
    nouns = {b for w in said for a, b in itertools.pairwise(w) if a in DETERMINERS}
    closed = SUBJECTS | WH | AUX | FILLERS | DETERMINERS | NOT_VERBS
    return frozenset(firsts - nouns - closed - PAST_VERBS)
