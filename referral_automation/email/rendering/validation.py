"""``validate`` for templates: compile every file, render every email a campaign can send, check it.

An email "can be sent" for every campaign × variant × step (0 and each follow-up) × locale it
has files for, with each incentive and each trigger rule of the campaign; each is rendered with the sample
customer and checked for what CONTRACT.md says every email carries: subject, HTML and text,
the referral link, the unsubscribe link, the ready-to-send introduction (``mailto:`` with the
referral link), the incentive and the "reply OK" instruction. Problems are ``path:line: message``;
the same problem found by many renders is reported once.

Two warnings stop nothing: an email whose HTML and text parts drift apart (``drift``: their links
or their sentences' count differ), and a locale the campaign speaks that one of its templates or
incentives is not translated into (``coverage``).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from referral_automation.config import AppConfig, Campaign
from referral_automation.config.source import YamlDocument
from referral_automation.domain.facts import CustomerFacts
from referral_automation.email.compose import compose_email, template_for
from referral_automation.email.message import OutgoingEmail
from referral_automation.email.rendering.context import CONTEXT_NAMES, RequestView, build_context, incentive_text
from referral_automation.email.rendering.coverage import Gap, translation_gaps
from referral_automation.email.rendering.drift import drift
from referral_automation.email.rendering.renderer import CONTEXT_FOLDER, PARTS, TEMPLATE_SUFFIXES, EmailRenderer
from referral_automation.email.rendering.sample import sample_customer, sample_moments, sample_request
from referral_automation.errors import Problem, TemplateError

SAMPLE_BASE_URL = "https://referrals.example.com"
OK_INSTRUCTION = re.compile(r"\bOK\b")
MAILTO_HREF = re.compile(r"""href=["'](mailto:[^"']*)["']""")
MAILTO_TEXT = re.compile(r"mailto:\S*")


@dataclass(frozen=True, slots=True)
class Rendering:
    """One email a campaign can send, as validation renders it."""

    campaign_id: str
    variant: str
    step: int
    locale: str | None
    incentive: str
    rule: str

    def describe(self) -> str:
        return (
            f"campaign {self.campaign_id}, variant {self.variant}, step {self.step}, "
            f"locale {self.locale or 'default'}, incentive {self.incentive}, rule {self.rule}"
        )


def check_templates(config: AppConfig, templates_dir: Path, *, campaigns: YamlDocument | None = None) -> list[Problem]:
    """Every problem in the templates the campaigns use, one ``Problem`` per distinct problem.

    ``campaigns`` (``campaigns.yaml`` as read) gives an untranslated incentive's warning its line.
    """
    if not templates_dir.is_dir():
        return [Problem(str(templates_dir), None, "templates directory not found")]
    renderer = EmailRenderer(templates_dir)
    problems = list(renderer.problems)
    problems += _file_name_problems(renderer)
    for campaign_id, campaign in config.campaigns.campaigns.items():
        missing = _missing_templates(renderer, campaign_id, campaign)
        problems += missing
        if not missing:
            problems += _render_problems(renderer, config, campaign_id, campaign)
            problems += _translation_problems(renderer, campaign_id, campaign, campaigns)
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, int | None, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.path, problem.line, problem.message.split(" (rendered for ")[0])
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def _file_name_problems(renderer: EmailRenderer) -> list[Problem]:
    """Files that look like templates but whose names the renderer cannot read, and half translations."""
    problems = []
    refused = {problem.path for problem in renderer.refused}
    for path in sorted(renderer.templates_dir.rglob("*")):
        name = path.relative_to(renderer.templates_dir).as_posix()
        if (
            str(path) not in refused
            and path.is_file()
            and path.suffix.lstrip(".") in TEMPLATE_SUFFIXES
            and name not in renderer.files
        ):
            problems.append(
                Problem(str(path), None, "unexpected file name: use <name>.<part> or <name>.<locale>.<part>")
            )
    for file in renderer.files.values():
        folder, _, name = file.template.rpartition("/")
        taken = name in CONTEXT_NAMES or name in renderer.env.globals
        if taken and (folder == CONTEXT_FOLDER or folder.endswith(f"/{CONTEXT_FOLDER}")):
            message = f"a _context file cannot be called {name!r}: templates already have a variable of that name"
            problems.append(Problem(renderer.path_of(file.name), None, message))
    emails = {(f.template, f.locale) for f in renderer.files.values() if not f.is_partial}
    for template, locale in sorted(emails, key=lambda pair: (pair[0], pair[1] or "")):
        suffix = f".{locale}" if locale else ""
        present = [part for part in PARTS if f"{template}{suffix}.{part}" in renderer.files]
        if len(present) < len(PARTS):
            missing = ", ".join(f"{template}{suffix}.{part}" for part in PARTS if part not in present)
            where = renderer.path_of(f"{template}{suffix}.{present[0]}")
            problems.append(Problem(where, None, f"incomplete email: {missing} missing (every email needs all three)"))
    return problems


def _templates_of(campaign_id: str, campaign: Campaign) -> list[tuple[str, str]]:
    named = [(f"variant {v.id!r}", v.template) for v in campaign.variants]
    if campaign.follow_ups.after_days:
        named.append(("follow_ups.template", campaign.follow_up_template(campaign_id)))
    return named


def _missing_templates(renderer: EmailRenderer, campaign_id: str, campaign: Campaign) -> list[Problem]:
    problems = []
    for label, template in _templates_of(campaign_id, campaign):
        if not renderer.has_email(template):
            missing = [f"{template}.{part}" for part in PARTS if f"{template}.{part}" not in renderer.files]
            problems.append(
                Problem(
                    renderer.path_of(missing[0]),
                    None,
                    f"campaign {campaign_id!r} {label} names template {template!r}, "
                    f"but {', '.join(missing)} does not exist",
                )
            )
    return problems


def _renderings(
    renderer: EmailRenderer, config: AppConfig, campaign_id: str, campaign: Campaign
) -> Iterator[Rendering]:
    """Every variant, step and locale; with every rule's moment and every incentive (each other one
    with the first rule: templates branch on the moment and on the incentive, not on both at once)."""
    steps = range(len(campaign.follow_ups.after_days) + 1)
    rules = [moment.rule_id for moment in sample_moments(config, campaign_id)]
    incentives = [incentive.id for incentive in campaign.incentives]
    pairs = [(incentives[0], rule) for rule in rules] + [(incentive, rules[0]) for incentive in incentives[1:]]
    for variant in campaign.variants:
        for step in steps:
            template = template_for(campaign_id, campaign, variant.id, step)
            for locale in renderer.locales(template):
                for incentive, rule in pairs:
                    yield Rendering(campaign_id, variant.id, step, locale, incentive, rule)


def _render_problems(renderer: EmailRenderer, config: AppConfig, campaign_id: str, campaign: Campaign) -> list[Problem]:
    moments = {moment.rule_id: moment for moment in sample_moments(config, campaign_id)}
    problems: list[Problem] = []
    drifted: set[tuple[tuple[str, ...], str]] = set()  # (the email's files, what drifts): said once
    for rendering in _renderings(renderer, config, campaign_id, campaign):
        request = sample_request(
            campaign_id,
            campaign,
            variant=rendering.variant,
            incentive=rendering.incentive,
            moment=moments[rendering.rule],
            sequence_step=rendering.step,
        )
        customer = sample_customer(rendering.locale or "en")
        try:
            email = compose_email(
                renderer=renderer,
                campaign_id=campaign_id,
                campaign=campaign,
                request=request,
                customer=customer,
                sequence_step=rendering.step,
                message_id="validation",
                public_base_url=SAMPLE_BASE_URL,
            )
        except TemplateError as error:
            problems += error.problems
            problems += _part_problems(renderer, campaign_id, campaign, request, customer, rendering.step)
            continue
        template = template_for(campaign_id, campaign, rendering.variant, rendering.step)
        email_locale, files = renderer.resolve(template, rendering.locale)
        expected = incentive_text(campaign.incentive(rendering.incentive), email_locale)
        missing = missing_parts(email, expected, SAMPLE_BASE_URL, request.code, request.unsubscribe_token)
        for part, message in missing:
            path = renderer.path_of(files[PARTS.index(part)])
            problems.append(Problem(path, None, f"{message} (rendered for {rendering.describe()})"))
        if missing:  # the error says more than the drift it causes
            continue
        for found in drift(email.html, email.text):
            if (files, found.kind) not in drifted:
                drifted.add((files, found.kind))
                path = renderer.path_of(files[PARTS.index(found.part)])
                message = f"{found.message} (rendered for {rendering.describe()})"
                problems.append(Problem(path, None, message, severity="warning"))
    return problems


def _translation_problems(
    renderer: EmailRenderer, campaign_id: str, campaign: Campaign, campaigns: YamlDocument | None
) -> list[Problem]:
    """A warning for each template and incentive of the campaign missing a locale the campaign speaks."""
    templates = dict.fromkeys(template for _, template in _templates_of(campaign_id, campaign))
    template_locales = {
        template: [locale for locale in renderer.locales(template) if renderer.has_email(template, locale)]
        for template in templates
    }
    problems = []
    for gap in translation_gaps(template_locales, campaign.incentives):
        speaking = sorted(template for template, locales in template_locales.items() if gap.locale in locales)
        problems.append(_gap_problem(gap, speaking, renderer, campaign_id, campaign, campaigns))
    return problems


def _gap_problem(
    gap: Gap,
    speaking: list[str],
    renderer: EmailRenderer,
    campaign_id: str,
    campaign: Campaign,
    campaigns: YamlDocument | None,
) -> Problem:
    speakers = ", ".join(speaking)
    if gap.template is not None:
        name = gap.template.rpartition("/")[2]
        files = ", ".join(f"{name}.{gap.locale}.{part}" for part in PARTS)
        message = (
            f"customers with locale {gap.locale} get this email in the default language: it has no "
            f"{gap.locale} files, though {speakers} {'does' if len(speaking) == 1 else 'do'} (add {files})"
        )
        return Problem(renderer.path_of(f"{gap.template}.{PARTS[0]}"), None, message, severity="warning")
    index = next(i for i, incentive in enumerate(campaign.incentives) if incentive.id == gap.incentive)
    message = (
        f"incentive {gap.incentive!r} has no {gap.locale} translation: customers with locale {gap.locale} "
        f"read it in the default language, though {speakers} {'speaks' if len(speaking) == 1 else 'speak'} "
        f"{gap.locale} (add {gap.locale}: under its translations)"
    )
    if campaigns is None:
        return Problem("campaigns.yaml", None, message, severity="warning")
    where = ("campaigns", campaign_id, "incentives", index, "translations")
    return Problem(str(campaigns.path), campaigns.line_of(where), message, severity="warning")


def _part_problems(
    renderer: EmailRenderer,
    campaign_id: str,
    campaign: Campaign,
    request: RequestView,
    customer: CustomerFacts,
    step: int,
) -> list[Problem]:
    """Render each file of a failed email on its own: one error must not hide the next."""
    template = template_for(campaign_id, campaign, request.variant, step)
    chosen, _ = renderer.resolve(template, customer.locale)
    context = build_context(
        campaign_id=campaign_id,
        campaign=campaign,
        request=request,
        customer=customer,
        sequence_step=step,
        public_base_url=SAMPLE_BASE_URL,
        email_locale=chosen,
    )
    return renderer.problems_rendering(template, customer.locale, context)


def missing_parts(
    email: OutgoingEmail, incentive: str, base_url: str, code: str, unsubscribe_token: str
) -> list[tuple[str, str]]:
    """What an email lacks of what every email must carry, as (part, message) pairs.

    Parts are ``subject``, ``html`` and ``txt``; the HTML is compared as the text it shows.
    """
    referral_link = f"{base_url}/r/{code}"
    unsubscribe_link = f"{base_url}/u/{unsubscribe_token}"
    found = [] if email.subject.strip() else [("subject", "the subject is empty")]
    shown = {"html": html_lib.unescape(email.html), "txt": email.text}
    for part, content in shown.items():
        label = "HTML" if part == "html" else "text"
        if not content.strip():
            found.append((part, f"the {label} part is empty"))
            continue
        checks = [
            (referral_link in content, f"the {label} part has no referral link ({referral_link})"),
            (unsubscribe_link in content, f"the {label} part has no unsubscribe link ({unsubscribe_link})"),
            (incentive in content, f"the {label} part does not tell the incentive ({incentive!r})"),
            (OK_INSTRUCTION.search(content) is not None, f'the {label} part has no instruction to reply "OK"'),
        ]
        found += [(part, message) for ok, message in checks if not ok]
        mailto = _first_mailto(part, email)
        if mailto is None:
            found.append((part, f"the {label} part has no mailto: link with the ready-to-send introduction"))
        elif referral_link not in mailto_body(mailto):
            found.append((part, f"the {label} part's mailto: introduction does not carry the referral link"))
    return found


def _first_mailto(part: str, email: OutgoingEmail) -> str | None:
    if part == "html":
        match = MAILTO_HREF.search(email.html)
        return html_lib.unescape(match.group(1)) if match else None
    match = MAILTO_TEXT.search(email.text)
    return match.group(0) if match else None


def mailto_body(url: str) -> str:
    """The decoded ``body`` of a ``mailto:`` URL ('' if it has none)."""
    return parse_qs(urlsplit(url).query).get("body", [""])[0]
