from appliance.core.chunker import SentenceChunker, speakable


def feed(chunker: SentenceChunker, text: str, step: int = 3) -> list[str]:
    out = []
    for i in range(0, len(text), step):
        out += chunker.push(text[i : i + step])
    rest = chunker.flush()
    return out + ([rest] if rest else [])


def test_sentences_split_as_they_complete():
    chunker = SentenceChunker(first_chunk_chars=0)
    assert chunker.push("The capital of France is Paris.") == []  # not sure it ended yet
    assert chunker.push(" It is") == ["The capital of France is Paris."]
    assert chunker.flush() == "It is"


def test_abbreviations_decimals_and_initials_do_not_split():
    text = "Dr. Smith measured 3.5 kg, e.g. in the U.S. lab. Then he left! Really? Yes."
    assert feed(SentenceChunker(first_chunk_chars=0), text) == [
        "Dr. Smith measured 3.5 kg, e.g. in the U.S. lab.",
        "Then he left!",
        "Really?",
        "Yes.",
    ]


def test_first_chunk_may_end_at_a_clause():
    text = "Well, the weather today looks lovely, with sunshine all afternoon. Enjoy it."
    chunks = feed(SentenceChunker(first_chunk_chars=24), text)
    assert chunks[0] == "Well, the weather today looks lovely,"
    assert chunks[1:] == ["with sunshine all afternoon.", "Enjoy it."]


def test_long_text_without_punctuation_is_cut_at_a_space():
    chunks = feed(SentenceChunker(first_chunk_chars=0, max_chars=40), "word " * 30)
    assert all(len(c) <= 40 for c in chunks)
    assert " ".join(chunks).split() == ["word"] * 30


def test_speakable_strips_markup_and_emoji():
    assert speakable("**Hello** _there_ `code` 😀 [link](http://x)") == "Hello there code"
    assert speakable("I am I. A test.") == "I am I. A test."


def test_a_long_first_sentence_is_split_before_a_phrase():
    text = "It's currently 11:59 AM in the time zone of your device. Anything else?"
    chunks = feed(SentenceChunker(first_chunk_chars=24), text)
    assert chunks == ["It's currently 11:59 AM", "in the time zone of your device.", "Anything else?"]
    short = feed(SentenceChunker(first_chunk_chars=24), "The capital of France is Paris. It is big.")
    assert short == ["The capital of France is Paris.", "It is big."]


def test_long_speech_is_split_where_a_speaker_breathes():
    from appliance.core.chunker import split_for_speech

    assert split_for_speech("Short and sweet.") == ["Short and sweet."]
    rambling = "A cat is a cat, " * 15
    pieces = split_for_speech(rambling, 90)
    assert all(len(p) <= 90 for p in pieces) and len(pieces) == 3
    assert all(p.endswith(",") for p in pieces[:-1])  # at a clause end, not mid-phrase
    assert " ".join(pieces) == rambling.strip()
    sentences = "The oven is hot. " * 8
    assert all(p.endswith(".") for p in split_for_speech(sentences, 90))
    no_commas = "the bus leaves from the stop near the school and goes to the station in the town centre every hour"
    pieces = split_for_speech(no_commas, 60)
    assert pieces[1].split()[0] in ("in", "to", "and", "from") and all(len(p) <= 60 for p in pieces)
    assert split_for_speech("x" * 120, 50) == ["x" * 120]  # one word too long stays whole
