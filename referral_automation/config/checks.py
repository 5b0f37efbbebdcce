"""Checks across config files (and within one, across its parts): names that must exist elsewhere,
with the line that names them; and conditions ``events.yaml`` says no event can meet (warnings:
the rule is valid, it just never fires).
"""

from __future__ import annotations

from referral_automation.config.conditions import Condition, comparisons
from referral_automation.config.feasibility import never_matches
from referral_automation.config.models import AppConfig, Campaign, DetractorSignal
from referral_automation.config.source import Location, YamlDocument
from referral_automation.errors import Problem


def _check_event_condition(
    config: AppConfig, doc: YamlDocument, event: str, condition: Condition | None, loc: Location
) -> list[Problem]:
    known = config.events.event_types.get(event)
    problems = []
    for comparison, where in comparisons(condition, loc):
        if comparison.property is None or known is None:
            continue
        if comparison.property.split(".")[0] not in known.properties:
            names = ", ".join(sorted(known.properties)) or "none"
            problems.append(
                doc.problem(
                    (*where, "property"),
                    f"event type {event!r} has no property {comparison.property!r} (it has: {names})",
                )
            )
    return problems


def _check_event_type(config: AppConfig, doc: YamlDocument, event: str, loc: Location) -> list[Problem]:
    if event in config.events.event_types:
        return []
    known = ", ".join(sorted(config.events.event_types))
    return [doc.problem(loc, f"unknown event type {event!r} (events.yaml knows: {known})")]


def _never_matching(
    config: AppConfig, doc: YamlDocument, event: str, condition: Condition | None, loc: Location, subject: str
) -> list[Problem]:
    """A warning at each comparison that makes ``condition`` impossible for every ``event``."""
    spec = config.events.event_types.get(event)
    return [
        Problem(str(doc.path), doc.line_of(where), f"{subject} can never match: {why}", severity="warning")
        for where, why in never_matches(condition, event, spec, loc)
    ]


def _check_signal(config: AppConfig, doc: YamlDocument, signal: DetractorSignal, loc: Location) -> list[Problem]:
    problems = _check_event_type(config, doc, signal.event, (*loc, "event"))
    problems += _check_event_condition(config, doc, signal.event, signal.when, (*loc, "when"))
    subject = f"the detractor signal on {signal.event!r}"
    problems += _never_matching(config, doc, signal.event, signal.when, (*loc, "when"), subject)
    if signal.unresolved_by is not None:
        problems += _check_event_type(config, doc, signal.unresolved_by, (*loc, "unresolved_by"))
    if signal.match_property is not None:  # both events must carry it, or nothing ever matches
        for event in (signal.event, signal.unresolved_by):
            known = config.events.event_types.get(event or "")
            if known is not None and signal.match_property.split(".")[0] not in known.properties:
                names = ", ".join(sorted(known.properties)) or "none"
                message = f"event type {event!r} has no property {signal.match_property!r} (it has: {names})"
                problems.append(doc.problem((*loc, "match_property"), message))
    return problems


def _check_test(campaign_id: str, campaign: Campaign, doc: YamlDocument) -> list[Problem]:
    """The test's arms name the campaign's own variants and incentives, and its floors fit in one send."""
    loc: Location = ("campaigns", campaign_id, "test")
    problems = []
    for index, arm in enumerate(campaign.test.arms or []):
        for kind, name, known in (
            ("variant", arm.variant, [v.id for v in campaign.variants]),
            ("incentive", arm.incentive, [i.id for i in campaign.incentives]),
        ):
            if name not in known:
                message = f"unknown {kind} {name!r} (this campaign has: {', '.join(known)})"
                problems.append(doc.problem((*loc, "arms", index, kind), message))
    running = sum(1 for arm in campaign.arms() if not arm.paused)
    floor = campaign.exploration_floor()
    if floor * running > 1:
        message = f"an exploration floor of {floor:g} for each of {running} running arms is more than every request"
        problems.append(doc.problem((*loc, "exploration_floor"), message))
    return problems


def cross_check(config: AppConfig, docs: dict[str, YamlDocument]) -> list[Problem]:
    """Every problem that only shows when the files are read together."""
    triggers = docs["triggers"]
    problems: list[Problem] = []
    for campaign_id, campaign in config.campaigns.campaigns.items():
        problems += _check_test(campaign_id, campaign, docs["campaigns"])
    for index, rule in enumerate(config.triggers.rules):
        loc: Location = ("rules", index)
        if rule.campaign not in config.campaigns.campaigns:
            known = ", ".join(sorted(config.campaigns.campaigns))
            problems.append(
                triggers.problem(
                    (*loc, "campaign"), f"unknown campaign {rule.campaign!r} (campaigns.yaml has: {known})"
                )
            )
        if rule.event is not None:
            problems += _check_event_type(config, triggers, rule.event, (*loc, "event"))
            problems += _check_event_condition(config, triggers, rule.event, rule.when, (*loc, "when"))
            subject = f"rule {rule.id!r}"
            problems += _never_matching(config, triggers, rule.event, rule.when, (*loc, "when"), subject)
        elif any(c.property is not None for c, _ in comparisons(rule.when)):
            problems.append(
                triggers.problem((*loc, "when"), "a time-based rule has no event: use 'customer' conditions only")
            )
        detractor = rule.guards.detractor
        for s_index, signal in enumerate(detractor.signals if detractor else []):
            problems += _check_signal(config, triggers, signal, (*loc, "guards", "detractor", "signals", s_index))
    for s_index, signal in enumerate(config.triggers.guards.detractor.signals):
        problems += _check_signal(config, triggers, signal, ("guards", "detractor", "signals", s_index))
    return problems
