from __future__ import annotations

from analysis import codes


def test_codes_every_constant_explained() -> None:
    constants = {
        value
        for name, value in vars(codes).items()
        if name.isupper() and isinstance(value, str)
    }
    assert constants == set(codes.EXPLANATIONS)
    assert all(text.endswith(".") for text in codes.EXPLANATIONS.values())


def test_codes_explain() -> None:
    assert "zero" in codes.explain(codes.ZERO_BASELINE)
