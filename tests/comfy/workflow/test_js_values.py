"""JavaScript's arithmetic where the front end relies on it."""

from __future__ import annotations

from comfyweb.comfy.workflow.js_values import js_to_fixed


def test_to_fixed_rounds_the_exact_binary_value_half_away_from_zero():
    assert js_to_fixed(7.55, 1) == 7.5  # 7.5499999… in binary
    assert js_to_fixed(0.125, 2) == 0.13  # exactly representable: half goes up
    assert js_to_fixed(-0.125, 2) == -0.13
