"""Tests for values.text: the one squash and the one cut at a word."""

from __future__ import annotations

from values.text import cut, shorten, squash


def test_squash_turns_every_whitespace_run_into_one_space() -> None:
    assert squash("  Vraag\n\t1:  wat   is\u00a0het? ") == "Vraag 1: wat is het?"


def test_cut_keeps_short_text_and_cuts_long_text_at_a_word() -> None:
    assert cut("kort", 10) == "kort"
    assert cut("een twee drie vier", 12) == "een twee …"
    assert cut("regel een\nregel twee drie", 20) == "regel een\nregel …"  # line breaks survive


def test_shorten_squashes_before_cutting() -> None:
    assert shorten("een\n\ntwee   drie vier", 12) == "een twee …"
    assert shorten("een\n\ntwee", 100) == "een twee"
