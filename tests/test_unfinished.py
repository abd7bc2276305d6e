"""The transcript check that confirms or reopens the turn model's early endpoint."""

import pytest

from appliance.voice.unfinished import unfinished


@pytest.mark.parametrize(
    "text",
    [
        "It was the age of",  # the endpoint bench's cut-offs, as Whisper transcribes them
        "It was the season of",
        "the period was so",
        "that some of",
        "that some of its noisiest authorities insisted on",
        "Add milk and",
        "What is the",
        "Set a timer for um",
        "Remind me to call my...",
        "Is it bigger than",
    ],
)
def test_open_endings(text):
    assert unfinished(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "Turn the kitchen light on.",
        "Switch the heating off",
        "What are you talking about?",
        "What is it made of?",
        "I think so.",
        "Set a timer for ten minutes.",
    ],
)
def test_whole_requests(text):
    assert not unfinished(text)


def test_the_safe_side_and_empty_text():
    assert unfinished("Who is it for")  # no verb takes 'for' here: waiting costs time, not words
    assert not unfinished("")
    assert unfinished("...")
