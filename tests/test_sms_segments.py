"""The SMS part counter: GSM-7 with its extension table, UCS-2 for everything else."""

from __future__ import annotations

import pytest

from visitt.messaging import sms_segments


@pytest.mark.parametrize(("text", "encoding", "units", "count"), [
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("Videokonsultasjon på Ålesund sjukehus: æøå ÆØÅ", "GSM-7", 46, 1),
    ("€" * 80, "GSM-7", 160, 1),  # each € is an escape and a character
    ("€" * 81, "GSM-7", 162, 2),
    ("a" + "€" * 76 + "b", "GSM-7", 154, 1),
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # the € moves whole into the second part: 152 + 12
    ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # ... so 306 septets no longer fit in two
    ("ą" * 70, "UCS-2", 70, 1),  # Polish: one letter outside the GSM alphabet makes the whole text UCS-2
    ("Zadzwoń" + "a" * 64, "UCS-2", 71, 2),
    ("ا" * 134, "UCS-2", 134, 2),
    ("ا" * 135, "UCS-2", 135, 3),
    ("a" * 66 + "😀" + "a" * 2, "UCS-2", 70, 1),
    ("a" * 66 + "😀" + "a" * 3, "UCS-2", 71, 2),  # the pair is not split: 66 + 5
    ("’", "UCS-2", 1, 1),  # a curly apostrophe is not in the GSM alphabet
])
def test_parts(text: str, encoding: str, units: int, count: int) -> None:
    assert sms_segments.count(text) == sms_segments.Segments(encoding, units, count)
