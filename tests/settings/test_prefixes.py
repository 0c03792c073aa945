"""Range notation of the tariff tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizpbx.numbers.prefixes import PrefixSpecError, expand


def test_examples_of_the_source_text():
    assert expand("783141-3") == ["783141", "783142", "783143"]
    assert expand("7846300-4") == [f"784630{d}" for d in range(5)]
    assert expand("784630–784634") == [f"78463{d}" for d in range(5)]
    assert expand("7495") == ["7495"]


@pytest.mark.parametrize("spec", ["", "7a", "783143-1", "78-123", "-3", "7-"])
def test_unreadable_specs_are_refused(spec):
    with pytest.raises(PrefixSpecError):
        expand(spec)


@given(start=st.integers(0, 10**7), span=st.integers(0, 9), width=st.integers(8, 9))
def test_a_range_is_every_prefix_between_its_ends(start, span, width):
    first = str(start).zfill(width)
    last = str(start + span).zfill(width)
    expanded = expand(f"{first}-{last}")
    assert expanded[0] == first and expanded[-1] == last
    assert len(expanded) == span + 1
    assert all(len(p) == width for p in expanded)
    assert expanded == sorted(set(expanded))


@pytest.mark.parametrize("spec", ["1٠", "７495", "783141-٣"])
def test_only_ascii_digits_make_a_prefix(spec):
    with pytest.raises(PrefixSpecError):
        expand(spec)
