"""Which locales a campaign speaks, and what of it is not translated into each.

The config has no list of the locales a campaign offers: its templates are that list. A campaign
speaks a locale when any of its emails (a variant's template, the follow-up template) has files
for it. A customer with that locale then gets each of the campaign's emails in it, or, where a
template has no files for it (after the fallback ``pt-BR`` → ``pt`` → default), that email in the
default language; and the incentive told in the default language where the incentive has no
translation for it. Both are worth a warning: the campaign reads as half translated.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from referral_automation.config import Incentive
from referral_automation.email.rendering.context import locale_chain


@dataclass(frozen=True, slots=True)
class Gap:
    """A locale the campaign speaks that ``template`` (or the incentive ``incentive``) is not translated into."""

    locale: str
    template: str | None = None
    incentive: str | None = None


def spoken_locales(template_locales: Mapping[str, Collection[str | None]]) -> list[str]:
    """Every locale any of the templates has files for (None, the default files, is not a locale)."""
    return sorted({locale for locales in template_locales.values() for locale in locales if locale})


def _covered(locale: str, translated: Collection[str]) -> bool:
    return any(candidate in translated for candidate in locale_chain(locale))


def translation_gaps(
    template_locales: Mapping[str, Collection[str | None]], incentives: Collection[Incentive]
) -> list[Gap]:
    """Each (template, locale) and (incentive, locale) whose customers get the default language.

    ``template_locales`` maps each email template of one campaign to the locales it has every
    file of (None for the default files).
    """
    gaps = []
    for locale in spoken_locales(template_locales):
        for template, locales in template_locales.items():
            if not _covered(locale, [loc for loc in locales if loc]):
                gaps.append(Gap(locale, template=template))
        for incentive in incentives:
            if not _covered(locale, incentive.translations):
                gaps.append(Gap(locale, incentive=incentive.id))
    return gaps
