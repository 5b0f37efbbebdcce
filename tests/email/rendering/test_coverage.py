"""translation_gaps: the locales a campaign speaks, and the templates and incentives not translated into them."""

from __future__ import annotations

from typing import Any

from referral_automation.config import Incentive
from referral_automation.email.rendering.coverage import Gap, spoken_locales, translation_gaps


def incentive(name: str, **translations: str) -> Incentive:
    fields: dict[str, Any] = {"id": name, "sides": "single", "referrer": {"kind": "gift"}, "cost": 0, "text": "A gift."}
    return Incentive(**fields, translations={k.replace("_", "-"): v for k, v in translations.items()})


def test_the_templates_say_which_locales_a_campaign_speaks() -> None:
    """It takes every locale any template has files for; the default files are no locale."""
    assert spoken_locales({"a": [None, "de"], "b": [None, "pt-BR", "de"], "c": [None]}) == ["de", "pt-BR"]


def test_a_template_without_a_locale_another_has_is_a_gap() -> None:
    """It finds the template customers of a spoken locale get in the default language."""
    gaps = translation_gaps(
        {"c/gratitude": [None, "de"], "c/direct_ask": [None]}, [incentive("gift", de="Ein Geschenk.")]
    )
    assert gaps == [Gap("de", template="c/direct_ask")]


def test_an_incentive_without_a_translation_is_a_gap() -> None:
    """It finds each incentive not translated into a spoken locale."""
    gaps = translation_gaps(
        {"c/gratitude": [None, "de", "fr"]}, [incentive("gift", de="Ein Geschenk."), incentive("cash")]
    )
    assert gaps == [Gap("de", incentive="cash"), Gap("fr", incentive="gift"), Gap("fr", incentive="cash")]


def test_the_fallback_covers_a_regional_locale() -> None:
    """It counts pt files as covering pt-BR (the renderer falls back to them), not pt-BR files as covering pt."""
    gaps = translation_gaps({"c/a": [None, "pt-BR"], "c/b": [None, "pt"]}, [incentive("gift", pt="Um presente.")])
    assert gaps == [Gap("pt", template="c/a")]


def test_a_campaign_in_one_language_has_no_gaps() -> None:
    """It finds nothing when no template has a translation."""
    assert translation_gaps({"c/a": [None], "c/b": [None]}, [incentive("gift")]) == []
