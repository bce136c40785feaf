"""What counts as a mention of a term, in one place for the X rules and the consumer's counter.

A mention is a whole word, case-insensitive: ``flood``, ``Flood!``, ``#flood``
and ``DoS-attack`` count; ``flooding``, ``#floodwatch`` and ``bruteforcer`` do
not. With ``plurals`` a regular plural (term + ``s``) counts too, except for
terms already ending in ``s``: the plural of ``dos`` would be ``doses``, a
different word.

Some terms are ordinary words in other languages: ``dos`` is Spanish for
"two" and Portuguese for "of the". Those *English-only* terms get the rule
operator ``lang:en`` (so X does not deliver, nor bill, the Spanish and
Portuguese tweets for them) and the counter counts them only in tweets whose
``lang`` is ``en``, which also covers a tweet that reached the stream through
another term's rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

TERM_RE = re.compile(r"[a-z0-9_]+")


def parse_terms(text: str | Iterable[str]) -> tuple[str, ...]:
    """Lower-cased, de-duplicated terms in their given order; a comma-separated string is fine."""
    items = text.split(",") if isinstance(text, str) else text
    terms: list[str] = []
    for item in items:
        term = item.strip().lower()
        if not term:
            continue
        if not TERM_RE.fullmatch(term):
            raise ValueError(f"term {item!r}: use one word of letters, digits or '_'")
        if term not in terms:
            terms.append(term)
    if not terms:
        raise ValueError("no terms given")
    return tuple(terms)


def forms(term: str, plurals: bool) -> tuple[str, ...]:
    """The words that count as ``term``."""
    if plurals and not term.endswith("s"):
        return (term, term + "s")
    return (term,)


@dataclass(frozen=True)
class TermSpec:
    """Which terms a run counts and how."""

    terms: tuple[str, ...]
    plurals: bool = False
    english_only: frozenset[str] = field(default_factory=frozenset)

    def rule_value(self, term: str) -> str:
        """The X filtered-stream rule of one term, e.g. ``(dos OR #dos) lang:en``."""
        words = forms(term, self.plurals)
        value = "(" + " OR ".join([*words, *(f"#{w}" for w in words)]) + ")"
        return f"{value} lang:en" if term in self.english_only else value

    def rules(self) -> dict[str, str]:
        """Rule value per rule tag (the tag is the term)."""
        return {term: self.rule_value(term) for term in self.terms}


class TermCounter:
    """Counts whole-word mentions of each term in a tweet's text."""

    def __init__(self, spec: TermSpec) -> None:
        self.spec = spec
        self._patterns = {
            term: re.compile(
                r"(?<!\w)#?(?:" + "|".join(forms(term, spec.plurals)) + r")(?!\w)", re.IGNORECASE
            )
            for term in spec.terms
        }

    def count(self, text: str, lang: str | None) -> dict[str, int]:
        """Mentions per term (every term present, zeros included)."""
        return {
            term: 0 if term in self.spec.english_only and lang != "en" else len(pattern.findall(text))
            for term, pattern in self._patterns.items()
        }
