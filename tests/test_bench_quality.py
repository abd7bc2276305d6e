"""The household Q&A set and its scorer (pure: no model)."""

from __future__ import annotations

from collections import Counter

from appliance.bench.quality import is_right, item_messages
from appliance.bench.quality_set import CATEGORIES, ITEMS, QaItem


def test_the_set_covers_every_category_with_at_least_a_hundred_questions() -> None:
    counts = Counter(item.category for item in ITEMS)
    assert len(ITEMS) >= 100 and set(counts) == set(CATEGORIES) and min(counts.values()) >= 15
    assert len({item.question for item in ITEMS if not item.history}) == sum(1 for i in ITEMS if not i.history)


def test_answers_are_scored_by_whole_words_with_stems_and_rejects() -> None:
    spider = QaItem("fact", "How many legs does a spider have?", ("eight|8",))
    assert is_right(spider, "A spider has 8 legs.") and is_right(spider, "Eight.")
    assert not is_right(spider, "A spider has 18 legs.") and not is_right(spider, "A spider has 2 legs.")
    birthday = QaItem("remembered", "?", ("twelfth of march|march 12*",), reject="thirteenth")
    assert is_right(birthday, "It is on March 12th.") and is_right(birthday, "The Twelfth of  March.")
    assert not is_right(birthday, "The thirteenth of March, not the twelfth of March.")
    both = QaItem("remembered", "?", ("friday", "3|three"))
    assert is_right(both, "Friday at 3 pm") and not is_right(both, "On Friday.")


def test_remembered_facts_and_history_reach_the_prompt_as_the_daemon_lays_it_out() -> None:
    item = next(i for i in ITEMS if i.category == "remembered")
    messages = item_messages(item, "Be brief.", lambda text: len(text.split()))
    assert [m["role"] for m in messages] == ["system", "user"]
    assert item.memories[0] in messages[-1]["content"].split("\n")  # a note of its own line
    follow = next(i for i in ITEMS if i.category == "follow-up")
    assert [m["role"] for m in item_messages(follow, "S.", len)] == ["system", "user", "assistant", "user"]
