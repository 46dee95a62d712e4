"""The guards: literals and polarity, opposite words, direction, substitutions."""

from __future__ import annotations

import pytest

from claude_force_trio._cache._semantic._contrast import PAIRS, conflicts, contrast_code, swap
from claude_force_trio._cache._semantic._direction import direction_code, reverses
from claude_force_trio._cache._semantic._guard import fingerprint
from claude_force_trio._cache._semantic._literals import extract_literals, literal_signature
from claude_force_trio._cache._semantic._substitution import content_codes, substitution
from claude_force_trio._prompts import user_message


@pytest.mark.parametrize(
    ("text", "literals"),
    [
        ("Summarise the Q3 2025 report", ("q3", "2025")),
        ("Retry three times within five minutes", ("3x", "5min")),
        ("Retry 3 times within 5 min", ("3x", "5min")),
        ("Calculate a 15% tip on $80 for 1,000 users", ("15%", "80$", "1000")),
        ("Load 10k rows, about 2.5 GB", ("10000", "2.5GB")),
        ("Fix issue #4521 before 2025-03-14 at 10:30", ("#4521", "2025-03-14", "10:30")),
        ("Upgrade Python 3.10 to v3.12.1", ("python", "3.10", "3.12.1")),
        ("Review src/auth/session.py and README.md", ("src/auth/session.py", "README.md")),
        ("Count lines in every .py file under /etc/nginx", (".py", "/etc/nginx")),
        (
            "Check https://example.com/a?b=1. Mail bob@x.io",
            ("https://example.com/a?b=1", "bob@x.io"),
        ),
        ('Explain `handle_request` and the "Save draft" label', ("handle_request", "Save draft")),
        (
            "Rename getUserName in os.path.join to sha256_hex",
            ("getUserName", "os.path.join", "sha256_hex"),
        ),
        ("Set MAX_RETRIES in the CSV exporter", ("MAX_RETRIES", "csv")),
        ("Summarise the email from Alice about Berlin", ("alice", "berlin")),
        ("Write the second section for Alice's team", ("2", "alice")),
    ],
)
def test_literals(text: str, literals: tuple[str, ...]) -> None:
    """Each kind of literal is found, canonicalised and kept in order of appearance."""
    assert extract_literals(text).items == literals


def test_a_sentence_starts_with_a_capital_that_is_not_a_name() -> None:
    """The first word of a sentence or line is not a literal; a capital inside one is."""
    assert extract_literals("Translate it. French is fine.").items == ()
    assert extract_literals("Translate it into French").items == ("french",)
    assert extract_literals(user_message("Summarise the report")).items == ()


def test_case_is_folded_for_names_and_capitals_but_not_for_code() -> None:
    """Q3 and q3 are one literal; parseConfig and ParseConfig are two."""
    assert literal_signature("Summarise Q3") == literal_signature("Summarise q3")
    assert literal_signature("Test parseConfig") != literal_signature("Test ParseConfig")


@pytest.mark.parametrize(
    "text",
    [
        "Refactor it without changing the API",
        "Don't use mocks",
        "List users who have not verified",
        "Orders that were never shipped",
        "Products with no discount",
        "This isn’t thread safe",
    ],
)
def test_negations_are_found(text: str) -> None:
    """Grammatical negation (words and contractions, either apostrophe) sets the polarity."""
    assert extract_literals(text).negated


def test_polarity_and_order_are_part_of_the_signature() -> None:
    """Same literals in another order, or negated, give another signature."""
    assert literal_signature("Convert JSON to YAML") != literal_signature("Convert YAML to JSON")
    assert literal_signature("Write tests that use mocks") != literal_signature(
        "Write tests that do not use mocks"
    )
    assert literal_signature("Write tests, no mocks") == literal_signature(
        "Write tests without mocks"
    )


def test_contrast_codes_conflict_only_across_sides() -> None:
    """One side against the other conflicts; neither side or both sides never does."""
    encrypt, decrypt = contrast_code("Encrypt the backups"), contrast_code("Decrypt the backups")
    assert conflicts(encrypt, decrypt)
    assert conflicts(decrypt, encrypt)
    assert not conflicts(encrypt, contrast_code("Encrypting the backup files"))
    assert not conflicts(encrypt, contrast_code("Protect the backups"))
    both = contrast_code("List the pros and cons")
    assert both == 0
    assert not conflicts(both, contrast_code("List the advantages"))
    assert swap(swap(encrypt)) == encrypt
    assert len(PAIRS) <= 31
    assert (
        max(
            contrast_code(" ".join(sorted(a))) | contrast_code(" ".join(sorted(b)))
            for a, b in PAIRS
        )
        < 1 << 63
    )


def test_direction_reversed_conflicts() -> None:
    """from A to B against from B to A conflicts; without such a phrase nothing does."""
    there = direction_code("Copy the settings from staging to production")
    back = direction_code("Copy the settings from production to staging.")
    assert there
    assert reverses(there, back)
    assert not reverses(there, direction_code("Copy our settings from the staging to production"))
    assert not reverses(there, direction_code("Copy the staging settings into production"))
    assert direction_code("Summarise the report") == 0


def test_substitution_of_a_content_word_is_another_task() -> None:
    """A swapped content word, or the same words reordered, is never a rewording."""

    def sub(a: str, b: str) -> bool:
        return substitution(content_codes(a), content_codes(b))

    assert sub("Write a test for the discount calculation", "Write a test for the tax calculation")
    assert sub("Return the even numbers", "Return the odd numbers")
    assert sub(
        "Convert the class component to a function component",
        "Convert the function component to a class component",
    )
    assert not sub("Review the Dockerfile", "Check the Dockerfile")
    assert not sub("Summarise the Q3 report", "Give me a summary of the Q3 report")
    assert not sub("Write tests for the parser", "Write some more tests covering the parser")
    assert not sub("Explain recursion", "Explain recursion")


def test_fingerprint_joins_the_guards() -> None:
    """compatible() is false when any guard objects, true for a plain paraphrase."""
    base = fingerprint("Summarise the Q3 2025 earnings report")
    assert base.compatible(fingerprint("Give me a summary of the Q3 2025 earnings report"))
    assert not base.compatible(fingerprint("Summarise the Q4 2025 earnings report"))
    assert not fingerprint("Enable 2FA").compatible(fingerprint("Disable 2FA"))
    assert not fingerprint("Move files from inbox to archive").compatible(
        fingerprint("Move files from archive to inbox")
    )
    assert not fingerprint("Explain this SQL query").compatible(
        fingerprint("Optimise this SQL query")
    )
