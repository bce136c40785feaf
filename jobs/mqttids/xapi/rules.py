"""Filtered-stream rules evaluated the way the X API v2 does, for the replay server.

The subset of X's rule language the platform's rules use, plus the usual
companions: keywords (a tokenized, case-insensitive match: ``"coca-cola"`` is
the tokens ``coca`` and ``cola``), ``#hashtag`` (an exact, case-insensitive
hashtag match: ``#flood`` does not match ``#floodwatch``), ``"exact phrase"``,
``lang:xx``, negation ``-``, ``OR``, implicit AND by juxtaposition, and
parentheses. Any other operator (``from:``, ``has:``...) is rejected, as X
rejects rules it cannot parse, rather than silently matching everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_RE = re.compile(r'\(|\)|"[^"]*"|[^\s()"]+')
WORD_RE = re.compile(r"\w+")
HASHTAG_RE = re.compile(r"#(\w+)")


class RuleSyntaxError(ValueError):
    """A rule the replay server cannot evaluate (X answers such rules with an error too)."""


@dataclass(frozen=True)
class Post:
    """What rules look at: the text's tokens and hashtags, and the language."""

    words: frozenset[str]
    text: str
    hashtags: frozenset[str]
    lang: str

    @classmethod
    def of(cls, text: str, lang: str | None) -> Post:
        lowered = text.lower()
        return cls(
            words=frozenset(WORD_RE.findall(lowered)),
            text=" ".join(WORD_RE.findall(lowered)),
            hashtags=frozenset(HASHTAG_RE.findall(lowered)),
            lang=(lang or "").lower(),
        )


Predicate = Callable[[Post], bool]


class _Parser:
    def __init__(self, rule: str) -> None:
        self.tokens = TOKEN_RE.findall(rule)
        self.pos = 0
        self.rule = rule

    def error(self, message: str) -> RuleSyntaxError:
        return RuleSyntaxError(f"rule {self.rule!r}: {message}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        if not self.tokens:
            raise self.error("empty rule")
        predicate = self.disjunction()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()!r}")
        return predicate

    def disjunction(self) -> Predicate:
        options = [self.conjunction()]
        while self.peek() == "OR":
            self.take()
            options.append(self.conjunction())
        return options[0] if len(options) == 1 else lambda post: any(p(post) for p in options)

    def conjunction(self) -> Predicate:
        parts = []
        while self.peek() not in (None, ")", "OR"):
            parts.append(self.unary())
        if not parts:
            raise self.error("missing clause")
        return parts[0] if len(parts) == 1 else lambda post: all(p(post) for p in parts)

    def unary(self) -> Predicate:
        token = self.peek()
        if token is not None and token.startswith("-") and len(token) > 1:
            self.tokens[self.pos] = token[1:]
            inner = self.unary()
            return lambda post: not inner(post)
        return self.atom()

    def atom(self) -> Predicate:
        token = self.take()
        if token == "(":
            inner = self.disjunction()
            if self.peek() != ")":
                raise self.error("missing ')'")
            self.take()
            return inner
        if token.startswith('"'):
            phrase = " ".join(WORD_RE.findall(token.lower()))
            if not phrase:
                raise self.error("empty phrase")
            return lambda post: f" {phrase} " in f" {post.text} "
        if token.startswith("#"):
            tag = token[1:].lower()
            if not WORD_RE.fullmatch(tag):
                raise self.error(f"bad hashtag {token!r}")
            return lambda post: tag in post.hashtags
        if token.lower().startswith("lang:"):
            lang = token[5:].lower()
            return lambda post: post.lang == lang
        if ":" in token or not WORD_RE.fullmatch(token):
            raise self.error(f"unsupported operator or keyword {token!r}")
        word = token.lower()
        return lambda post: word in post.words


def compile_rule(rule: str) -> Predicate:
    """A predicate telling whether a post matches ``rule``; RuleSyntaxError if it cannot be parsed."""
    return _Parser(rule).parse()
