"""Which language a question is in (Dutch or English), for refusals and prompts in kind."""

from __future__ import annotations

import re

_NL = frozenset("de het een en van is dat op te in voor niet met zijn er aan ook als bij wat hoe "
                "welke wie waarom hoeveel wordt worden kan kunt u ik zal zou heeft hebben naar".split())
_EN = frozenset("the a an and of is that on to in for not with are there what how which who why "
                "many much does do did can could will would has have was were by from".split())
_WORD = re.compile(r"[a-zA-Z]+")


def detect(text: str) -> str:
    """'nl' or 'en' by function words; Dutch when unsure (the first users' language)."""
    words = [w.lower() for w in _WORD.findall(text)]
    nl = sum(w in _NL for w in words)
    en = sum(w in _EN for w in words)
    return "en" if en > nl else "nl"
