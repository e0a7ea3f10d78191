"""The shipped text check: the operators' word lists (admin: Jobs › Word lists).

A term of letters and digits only matches a whole word ("ass" does not block "class"); any other term
(Chinese, phrases with punctuation) matches anywhere. Case is ignored.
"""

from __future__ import annotations

import re

from comfyweb.jobs.models import WordList
from comfyweb.jobs.trust.moderation import Check, Verdict

ASCII_WORD = re.compile(r"[a-z0-9 ]+")


def term_pattern(term: str) -> str:
    escaped = re.escape(term)
    return rf"(?<![a-z0-9]){escaped}(?![a-z0-9])" if ASCII_WORD.fullmatch(term) else escaped


def blocked_terms(text: str, terms: list[str]) -> list[str]:
    """The terms of `terms` (case-folded) found in `text`."""
    folded = text.casefold()
    return [term for term in terms if re.search(term_pattern(term), folded)]


class WordListCheck(Check):
    name = "words"

    def check_text(self, text: str, *, stage: str) -> Verdict:
        terms = [term for words in WordList.objects.filter(enabled=True) for term in words.terms()]
        found = blocked_terms(text, terms)
        return Verdict(blocked=bool(found), score=1.0 if found else 0.0, reasons=tuple(found), check=self.name)
