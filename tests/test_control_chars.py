"""Control characters out of spoken, published and logged text."""

from __future__ import annotations

from appliance.core.control_chars import strip_control_chars


def test_c0_del_and_c1_go_and_breaks_become_spaces():
    assert strip_control_chars("a\x1b[0mb\x07c\x00d\x7fe\x9bf") == "abcdef"
    assert strip_control_chars("one\ntwo\tthree\r\nfour\x85five\u2028six") == "one two three  four five six"


def test_printable_text_is_left_alone():
    text = "Ça coûte 3 € — «vraiment» … 東京 🙂 \u200d"
    assert strip_control_chars(text) == text
