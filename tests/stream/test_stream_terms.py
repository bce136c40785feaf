"""What counts as a mention, and how the replay server evaluates X rules."""

from __future__ import annotations

import pytest

from mqttids.stream.terms import TermCounter, TermSpec, forms, parse_terms
from mqttids.xapi.rules import Post, RuleSyntaxError, compile_rule

SPEC = TermSpec(parse_terms("flood,dos,slowite"), english_only=frozenset({"dos"}))


@pytest.mark.parametrize(
    "text, lang, expected",
    [
        ("MQTT flood, FLOOD and #Flood!", "en", {"flood": 3}),
        ("flooding #floodwatch floodlights", "en", {"flood": 0}),
        ("DoS-attack on the broker, #dos", "en", {"dos": 2}),
        ("DDoS and DOSBox and doses", "en", {"dos": 0}),
        ("Tengo dos sensores y los dos fallan", "es", {"dos": 0}),
        ("A maioria dos dispositivos sofre flood", "pt", {"dos": 0, "flood": 1}),
        ("#DoS", "und", {"dos": 0}),
        ("SlowITe and slowite_v2", "en", {"slowite": 1}),
    ],
)
def test_whole_words_hashtags_and_english_only_terms(text, lang, expected):
    counts = TermCounter(SPEC).count(text, lang)
    assert set(counts) == set(SPEC.terms)
    for term, n in expected.items():
        assert counts[term] == n, (term, text)


def test_plurals_are_configurable_but_never_turn_dos_into_doses():
    assert forms("flood", plurals=True) == ("flood", "floods")
    assert forms("dos", plurals=True) == ("dos",)
    text = "Floods of floods and a flood; doses"
    assert TermCounter(SPEC).count(text, "en")["flood"] == 1
    assert TermCounter(TermSpec(SPEC.terms, plurals=True)).count(text, "en")["flood"] == 3


def test_rules_carry_hashtags_and_lang_en_for_english_only_terms():
    rules = TermSpec(("flood", "dos"), plurals=True, english_only=frozenset({"dos"})).rules()
    assert rules == {"flood": "(flood OR floods OR #flood OR #floods)", "dos": "(dos OR #dos) lang:en"}


@pytest.mark.parametrize("bad", ["", "two words", "flood,#x", " , "])
def test_bad_terms_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_terms(bad)


@pytest.mark.parametrize(
    "rule, text, lang, matches",
    [
        ("(dos OR #dos) lang:en", "A DoS on the broker", "en", True),
        ("(dos OR #dos) lang:en", "Tengo dos sensores", "es", False),
        ("(flood OR #flood)", "#flood of retained messages", "en", True),
        ("#flood", "#floodwatch issued", "en", False),
        ("flood -#iot", "flood again #iot", "en", False),
        ('"coca cola" OR pepsi', "I like coca-cola", "en", True),
        ("malformed packet", "packet was malformed", "en", True),
        ("malformed packet", "malformed header", "en", False),
    ],
)
def test_rules_match_as_x_does(rule, text, lang, matches):
    assert compile_rule(rule)(Post.of(text, lang)) is matches


@pytest.mark.parametrize("rule", ["from:someone", "(flood OR", "flood OR", "has:links flood"])
def test_rules_x_would_reject_are_rejected(rule):
    with pytest.raises(RuleSyntaxError):
        compile_rule(rule)
