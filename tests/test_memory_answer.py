"""Remembered facts that answer a question word for word are said back exactly (``memory.answer_facts``)."""

from __future__ import annotations

from appliance.memory.answer import (
    content_words,
    fact_answer,
    is_question,
    second_person,
)
from appliance.memory.retrieval import Hit


def facts(*texts: str, kind: str = "fact", semantic: float = 0.8) -> list[Hit]:
    return [Hit(kind, i, text, 0.0, semantic, semantic, 0.0) for i, text in enumerate(texts)]


HOUSEHOLD = facts(
    "Anna's birthday is on the twelfth of March.",
    "The spare key for the shed is under the blue flowerpot.",
    "My boss's birthday is on Monday.",
    "You left your umbrella in the bedroom.",
    "What's the weather like on Tuesday.",
    "The plumber's phone number is 555 0192",
    "My dentist appointment is on Friday at 3",
)


def test_a_question_every_word_of_which_is_in_a_fact_gets_the_fact_back() -> None:
    assert fact_answer("When is Anna's birthday?", HOUSEHOLD) == "Anna's birthday is on the twelfth of March."
    assert fact_answer("When is Ann's birthday?", HOUSEHOLD) == "Anna's birthday is on the twelfth of March."
    assert fact_answer("Where's the spare key for the shed?", HOUSEHOLD).startswith("The spare key")
    assert fact_answer("What is the plumber's number?", HOUSEHOLD) == "The plumber's phone number is 555 0192."
    assert fact_answer("when is my dentist appointment", HOUSEHOLD) == "Your dentist appointment is on Friday at 3."


def test_anything_less_certain_is_left_to_the_llm() -> None:
    assert fact_answer("When is my birthday?", HOUSEHOLD) is None  # the boss's, not mine
    assert fact_answer("What is an umbrella for?", HOUSEHOLD) is None  # one content word
    assert fact_answer("What's the weather like on Tuesday?", HOUSEHOLD) is None  # a stored question
    assert fact_answer("When is Anna's wedding?", HOUSEHOLD) is None  # a word the fact lacks
    assert fact_answer("Where is the keyboard for the shed?", HOUSEHOLD) is None  # 'key' is not 'keyboard'
    assert fact_answer("Tell me about Anna's birthday.", HOUSEHOLD) is None  # not a question
    assert (
        fact_answer("When is Anna's birthday?", facts("Anna's birthday is on the twelfth of March.", kind="turn"))
        is None
    )
    assert fact_answer("When is Anna's birthday?", HOUSEHOLD, min_similarity=0.9) is None


def test_the_best_fact_that_answers_wins() -> None:
    hits = facts(
        "Mia's birthday is on Sunday.",
        "Anna's birthday is on the twelfth of March.",
        "Anna's birthday party is on Saturday.",
    )
    assert fact_answer("When is Anna's birthday?", hits) == "Anna's birthday is on the twelfth of March."


def test_words_questions_and_person() -> None:
    assert content_words("Where's Anna's spare key?") == ["anna", "spare", "key"]
    assert (
        is_question("when do the bins go out") and is_question("Ben is allergic?") and not is_question("Ben is nice.")
    )
    assert second_person("My sister and I live in our flat.") == "Your sister and you live in your flat."
