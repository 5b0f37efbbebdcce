"""The YAML configuration: the shipped files, and every kind of mistake reported as path:line: message."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

from referral_automation.config import AppConfig, load_config
from tests.support import ROOT
from tests.support.config import CAMPAIGNS, TRIGGERS, line_of, problems_of, write_config


# ------------------------------------------------------------------------------------------------ shipped config
def test_the_shipped_config_loads() -> None:
    """It loads config/ as shipped."""
    config = load_config(ROOT / "config")
    assert isinstance(config, AppConfig)
    assert config.campaign("customer_referral").name


def test_the_shipped_rules_are_the_contracts_default_behaviour() -> None:
    """It ships exactly the moments of truth, guards, approval and send window CONTRACT.md promises."""
    config = load_config(ROOT / "config")
    rules = {rule.id: rule for rule in config.triggers.rules if rule.enabled}
    assert sorted(rules) == ["delighted_support", "milestone", "nps_promoter"]
    promoter, support, milestone = rules["nps_promoter"], rules["delighted_support"], rules["milestone"]
    assert (promoter.event, promoter.when.model_dump(exclude_none=True)) == (  # type: ignore[union-attr]
        "nps_submitted",
        {"property": "score", "gte": 9},
    )
    assert (support.event, support.when.model_dump(exclude_none=True)) == (  # type: ignore[union-attr]
        "ticket_resolved",
        {"property": "csat", "gte": 4},
    )
    assert (milestone.event, milestone.when) == ("milestone_reached", None)
    assert promoter.priority > support.priority > milestone.priority
    assert all(rule.campaign == "customer_referral" for rule in rules.values())
    assert all(rule.effective_guards(config.triggers.guards) == config.triggers.guards for rule in rules.values())

    guards = config.triggers.guards
    assert all(getattr(guards, name).enabled for name in ("staleness", "consent", "tenure", "cooldown", "detractor"))
    assert guards.tenure.min_days == 90
    assert (guards.consent.require_opt_in, guards.consent.check_suppressions) == (True, True)
    assert guards.cooldown.days == 90
    assert guards.staleness.max_age_days == 7
    assert guards.detractor.lookback_days == 30
    signals = [s.model_dump(exclude_none=True, by_alias=True) for s in guards.detractor.signals]
    assert signals == [
        {"event": "nps_submitted", "when": {"property": "score", "lte": 6.0}},
        {"event": "ticket_resolved", "when": {"property": "csat", "lte": 2.0}},
        {"event": "ticket_opened", "unresolved_by": "ticket_resolved", "match_property": "ticket_id"},
    ]

    campaign = config.campaign("customer_referral")
    assert campaign.approval.lifetime_value_at_least == Decimal(50000)
    assert [plan.casefold() for plan in campaign.approval.plans] == ["enterprise"]
    assert campaign.approval.expires_after_days == 14
    assert campaign.send_window.days == ["mon", "tue", "wed", "thu", "fri"]
    assert (campaign.send_window.start, campaign.send_window.end) == (time(9, 0), time(17, 0))
    assert campaign.follow_ups.after_days == [3, 7]


def test_the_commented_test_in_the_shipped_campaigns_is_valid(tmp_path: Path) -> None:
    """It accepts the shipped campaigns.yaml with its commented multi-armed test switched on."""
    text = (ROOT / "config" / "campaigns.yaml").read_text(encoding="utf-8")
    start = text.index("    # test:\n")
    block = [line for line in text[start:].splitlines() if line.startswith("    #   ") or line == "    # test:"]
    switched = text[:start] + "\n".join(line.replace("    # ", "    ", 1) for line in block) + "\n"
    for name in ("events.yaml", "triggers.yaml"):
        (tmp_path / name).write_text((ROOT / "config" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "campaigns.yaml").write_text(switched, encoding="utf-8")

    test = load_config(tmp_path).campaign("customer_referral").test

    assert (test.policy, test.objective, test.holdout, test.conversion_value) == ("thompson", "profit", 0.05, 1200)
    assert [(a.variant, a.incentive, a.paused) for a in test.arms or []] == [
        ("gratitude", "give50_get50", False),
        ("social_proof", "give50_get50", False),
        ("direct_ask", "donation", True),
    ]


def test_the_base_config_of_these_tests_is_valid(tmp_path: Path) -> None:
    """It accepts the small config every case below breaks in one place."""
    config = load_config(write_config(tmp_path))
    assert [rule.id for rule in config.triggers.rules] == ["nps_promoter", "delighted_support", "settled_in"]


# ------------------------------------------------------------------------------------------------ one mistake each
#: Where a campaign's ``test:`` goes in the base config: just before its send window.
WINDOW = "    send_window:\n"
#: (id, file, old text, new text, marker on the expected line, expected message or the part of it we promise)
CASES = [
    # YAML itself
    ("syntax-unclosed-flow", "triggers.yaml", "    priority: 30\n", "    priority: [30\n    campaign2: x\n",
     "campaign2", "invalid YAML"),
    ("syntax-tab", "campaigns.yaml", "    kind: customer\n", "    kind: customer\n\tname2: x\n", "name2",
     "invalid YAML"),
    ("syntax-bad-indent", "events.yaml", "      csat: {type: integer, min: 1, max: 5}\n",
     "      csat: {type: integer, min: 1, max: 5}\n     oops: 1\n", "oops", "invalid YAML"),
    ("duplicate-key", "triggers.yaml", "    priority: 30\n", "    priority: 30\n    priority: 31 # dup\n", "# dup",
     "invalid YAML: duplicate key 'priority'"),
    ("duplicate-key-deep", "campaigns.yaml", '      start: "09:00"\n', '      start: "09:00"\n      start: "10:00"\n',
     '"10:00"', "invalid YAML: duplicate key 'start'"),
    ("duplicate-event-type", "events.yaml", "  milestone_reached:\n", "  nps_submitted: # again\n    properties: {}\n"
     "  milestone_reached:\n", "# again", "invalid YAML: duplicate key 'nps_submitted'"),
    # unknown keys at several depths
    ("unknown-top-level-key", "triggers.yaml", "guards:\n", "colour: red\nguards:\n", "colour",
     "(top level): unknown key 'colour'"),
    ("unknown-rule-key", "triggers.yaml", "    priority: 20\n", "    priority: 20\n    colour: red\n", "colour",
     "rules.1: unknown key 'colour'"),
    ("unknown-guard-key", "triggers.yaml", "    min_days: 90\n", "    min_days: 90\n    minimum_days: 9\n",
     "minimum_days", "guards.tenure: unknown key 'minimum_days'"),
    ("unknown-guard", "triggers.yaml", "  tenure:\n", "  happiness: {}\n  tenure:\n", "happiness",
     "guards: unknown key 'happiness'"),
    ("unknown-condition-key", "triggers.yaml", "        - {customer: plan, ne: free}\n",
     "        - {customer: plan, ne: free, weight: 2}\n", "weight", "rules.1.when.all.1: unknown key 'weight'"),
    ("unknown-signal-key", "triggers.yaml", "        match_property: ticket_id\n",
     "        match_property: ticket_id\n        severity: high\n", "severity",
     "guards.detractor.signals.1: unknown key 'severity'"),
    ("unknown-campaign-key", "campaigns.yaml", "    kind: customer\n", "    kind: customer\n    budget: 100\n",
     "budget", "campaigns.customer_referral: unknown key 'budget'"),
    ("unknown-reward-key", "campaigns.yaml", "{kind: donation, value: 25, currency: USD}",
     "{kind: donation, value: 25, currency: USD, charity: x}", "charity",
     "campaigns.customer_referral.incentives.1.referrer: unknown key 'charity'"),
    ("unknown-property-spec-key", "events.yaml", "      name: {type: string}", "      name: {type: string, pattern: x}",
     "pattern", "event_types.milestone_reached.properties.name: unknown key 'pattern'"),
    # wrong types
    ("priority-not-a-number", "triggers.yaml", "    priority: 30\n", "    priority: high\n", "high",
     "rules.0.priority: Input should be a valid integer"),
    ("min-days-not-a-number", "triggers.yaml", "    min_days: 90\n", "    min_days: lots\n", "lots",
     "guards.tenure.min_days: Input should be a valid integer"),
    ("negative-lookback", "triggers.yaml", "    lookback_days: 30\n", "    lookback_days: -1\n", "lookback_days",
     "guards.detractor.lookback_days: Input should be greater than or equal to 0"),
    ("enabled-not-a-boolean", "triggers.yaml", "  - id: settled_in\n", "  - id: settled_in\n    enabled: maybe\n",
     "maybe", "rules.2.enabled: Input should be a valid boolean"),
    ("operand-not-a-number", "triggers.yaml", "      gte: 9\n", "      gte: nine\n", "nine",
     "rules.0.when.gte: Input should be a valid number"),
    ("in-not-a-list", "triggers.yaml", "{customer: plan, ne: free}", "{customer: plan, in: free}", "in: free",
     "rules.1.when.all.1.in: Input should be a valid list"),
    ("rules-not-a-list", "triggers.yaml", TRIGGERS[: TRIGGERS.index("guards:")], "rules: nps_promoter\n", "rules: nps",
     "rules: Input should be a valid list"),
    ("variants-not-a-list", "campaigns.yaml",
     CAMPAIGNS[CAMPAIGNS.index("    variants:") : CAMPAIGNS.index("    incentives:")], "    variants: gratitude\n",
     "variants: gratitude", "campaigns.customer_referral.variants: Input should be a valid list"),
    ("bad-campaign-kind", "campaigns.yaml", "    kind: customer\n", "    kind: vendor\n", "vendor",
     "campaigns.customer_referral.kind: Input should be 'customer', 'partner' or 'influencer'"),
    ("bad-sender-email", "campaigns.yaml", "      email: referrals@example.com\n", "      email: referrals\n",
     "email: referrals", "campaigns.customer_referral.sender.email: String should match pattern"),
    ("bad-currency", "campaigns.yaml", "value: 25, currency: USD}", "value: 25, currency: dollars}", "dollars",
     "campaigns.customer_referral.incentives.1.referrer.currency: String should match pattern"),
    ("bad-property-type", "events.yaml", "      name: {type: string}", "      name: {type: text}", "type: text",
     "event_types.milestone_reached.properties.name.type: Input should be 'integer', 'number', 'string' or 'boolean'"),
    ("bad-rule-id", "triggers.yaml", "  - id: settled_in\n", "  - id: Settled In\n", "Settled In",
     "rules.2.id: String should match pattern"),
    # conditions
    ("two-operators", "triggers.yaml", "      gte: 9\n", "      gte: 9\n      lte: 10\n", "    when:",
     "rules.0.when: give exactly one operator of eq, ne, gt, gte, lt, lte, in, not_in, exists; got ['gte', 'lte']"),
    ("no-operator", "triggers.yaml", "{property: score, lte: 6}", "{property: score}", "{property: score}",
     "guards.detractor.signals.0.when: give exactly one operator of eq, ne, gt, gte, lt, lte, in, not_in, exists; "
     "got none"),
    ("property-and-customer", "triggers.yaml", "{customer: plan, ne: free}", "{customer: plan, property: csat, ne: 1}",
     "customer: plan, property", "rules.1.when.all.1: name exactly one of 'property' (of the event) or 'customer'"),
    ("unknown-customer-field", "triggers.yaml", "{customer: plan, ne: free}", "{customer: shoe_size, gte: 42}",
     "shoe_size", "rules.1.when.all.1: unknown customer field 'shoe_size' (known: company, customer_id, email, "
     "first_name, first_purchase_at, last_name, lifetime_value, locale, marketing_opt_in, plan, tenure_days, "
     "timezone)"),
    ("empty-all", "triggers.yaml",
     "      all:\n        - {property: csat, gte: 4}\n        - {customer: plan, ne: free}\n", "      all: []\n",
     "all: []", "rules.1.when.all: List should have at least 1 item"),
    # rules
    ("event-and-after", "triggers.yaml", "    after:\n", "    event: nps_submitted\n    after:\n", "- id: settled_in",
     "rules.2: give exactly one of 'event' (an event type) or 'after' (a time-based rule)"),
    ("neither-event-nor-after", "triggers.yaml", "    event: nps_submitted\n    when:\n      property: score\n",
     "    when:\n      property: score\n", "- id: nps_promoter",
     "rules.0: give exactly one of 'event' (an event type) or 'after' (a time-based rule)"),
    ("time-rule-since-unknown-date", "triggers.yaml", "      days: 120\n", "      days: 120\n      since: last_login\n",
     "last_login", "rules.2.after.since: 'since' must be one of first_purchase_at"),
    ("duplicate-rule-id", "triggers.yaml", "  - id: settled_in\n", "  - id: nps_promoter # again\n", "# again",
     "rules.2.id: rule id 'nps_promoter' is used twice"),
    ("no-rules", "triggers.yaml", TRIGGERS[: TRIGGERS.index("guards:")], "rules: []\n", "rules: []",
     "rules: List should have at least 1 item"),
    ("unresolved-by-without-key", "triggers.yaml", "        match_property: ticket_id\n", "", "- event: ticket_opened",
     "guards.detractor.signals.1: 'unresolved_by' and 'match_property' go together"),
    # campaigns
    ("duplicate-variant-id", "campaigns.yaml", "      - id: direct_ask\n", "      - id: gratitude # again\n", "# again",
     "campaigns.customer_referral.variants.1.id: variant id 'gratitude' is used twice"),
    ("duplicate-incentive-id", "campaigns.yaml", "      - id: donation\n", "      - id: give50_get50 # again\n",
     "# again", "campaigns.customer_referral.incentives.1.id: incentive id 'give50_get50' is used twice"),
    ("window-start-after-end", "campaigns.yaml", '      start: "09:00"\n', '      start: "18:00"\n', "send_window:",
     "campaigns.customer_referral.send_window: 'start' must be before 'end'"),
    ("window-unknown-day", "campaigns.yaml", "[mon, tue, wed, thu, fri]", "[mon, funday]", "funday",
     "campaigns.customer_referral.send_window.days.1: Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or "
     "'sun'"),
    ("window-no-days", "campaigns.yaml", "[mon, tue, wed, thu, fri]", "[]", "days: []",
     "campaigns.customer_referral.send_window.days: List should have at least 1 item"),
    ("window-bad-time", "campaigns.yaml", '      end: "17:00"\n', '      end: "25:00"\n', "25:00",
     "campaigns.customer_referral.send_window.end: Input should be in a valid time format"),
    ("window-unquoted-time", "campaigns.yaml", '      end: "17:00"\n', "      end: 17:00\n", "end: 17",
     'campaigns.customer_referral.send_window.end: write the time in quotes, like "17:00" (unquoted, YAML reads 17:00 '
     "as a number)"),
    ("window-time-with-zone", "campaigns.yaml", '      end: "17:00"\n', '      end: "17:00+02:00"\n', "+02:00",
     "campaigns.customer_referral.send_window.end: a send window time has no time zone: it is read in the customer's "
     "own zone"),
    ("double-without-referee", "campaigns.yaml", "        referee: {kind: discount_percent, value: 20}\n", "",
     "- id: give50_get50",
     "campaigns.customer_referral.incentives.0: a double-sided incentive needs a 'referee' reward"),
    ("single-with-referee", "campaigns.yaml", "        sides: single\n",
     "        sides: single\n        referee: {kind: gift, description: mug}\n", "- id: donation",
     "campaigns.customer_referral.incentives.1: a single-sided incentive has no 'referee' reward"),
    ("unknown-sides", "campaigns.yaml", "        sides: single\n", "        sides: triple\n", "triple",
     "campaigns.customer_referral.incentives.1.sides: Input should be 'double' or 'single'"),
    ("negative-cost", "campaigns.yaml", "        cost: 25\n", "        cost: -25\n", "cost: -25",
     "campaigns.customer_referral.incentives.1.cost: Input should be greater than or equal to 0"),
    # the campaign's multi-armed test
    ("test-unknown-key", "campaigns.yaml", WINDOW, "    test: {budget: 3}\n" + WINDOW, "budget",
     "campaigns.customer_referral.test: unknown key 'budget'"),
    ("test-unknown-policy", "campaigns.yaml", WINDOW, "    test: {policy: greedy}\n" + WINDOW, "greedy",
     "campaigns.customer_referral.test.policy: Input should be 'thompson', 'uniform' or 'fixed'"),
    ("test-unknown-objective", "campaigns.yaml", WINDOW, "    test: {objective: revenue}\n" + WINDOW, "revenue",
     "campaigns.customer_referral.test.objective: Input should be 'reply', 'referral', 'conversion' or 'profit'"),
    ("test-holdout-of-everything", "campaigns.yaml", WINDOW, "    test:\n      holdout: 1\n" + WINDOW, "holdout",
     "campaigns.customer_referral.test.holdout: Input should be less than 1"),
    ("test-negative-floor", "campaigns.yaml", WINDOW, "    test:\n      exploration_floor: -0.1\n" + WINDOW,
     "exploration_floor", "campaigns.customer_referral.test.exploration_floor: Input should be greater than or equal "
     "to 0"),
    ("test-arm-twice", "campaigns.yaml", WINDOW, "    test:\n      arms:\n        - {variant: gratitude, incentive: "
     "donation}\n        - {variant: gratitude, incentive: donation} # again\n" + WINDOW, "# again",
     "campaigns.customer_referral.test.arms.1: arm gratitude × donation is listed twice"),
    ("test-every-arm-paused", "campaigns.yaml", WINDOW, "    test:\n      arms:\n        - {variant: gratitude, "
     "incentive: donation, paused: true}\n" + WINDOW, "    test:",
     "campaigns.customer_referral.test: every arm is paused: leave at least one running"),
    ("test-weight-without-fixed", "campaigns.yaml", WINDOW, "    test:\n      arms:\n        - {variant: gratitude, "
     "incentive: donation}\n        - variant: direct_ask\n          incentive: donation\n          weight: 3\n"
     + WINDOW, "weight: 3", "a weight applies to policy 'fixed' only (this test's policy is 'thompson')"),
    ("test-fixed-without-weights", "campaigns.yaml", WINDOW, "    test:\n      policy: fixed\n" + WINDOW,
     "    test:", "campaigns.customer_referral.test: policy 'fixed' needs its arms listed, at least one unpaused arm "
     "with a positive weight"),
]  # fmt: skip

#: Problems that only show when the files are read together (config.checks.cross_check).
CROSS_CASES = [
    ("unknown-campaign", "triggers.yaml", "    priority: 5\n    campaign: customer_referral\n",
     "    priority: 5\n    campaign: partner_program\n", "partner_program",
     "unknown campaign 'partner_program' (campaigns.yaml has: customer_referral)"),
    ("unknown-event-type", "triggers.yaml", "    event: ticket_resolved\n", "    event: ticket_closed\n",
     "ticket_closed", "unknown event type 'ticket_closed' (events.yaml knows: milestone_reached, nps_submitted, "
     "ticket_opened, ticket_resolved)"),
    ("unknown-property", "triggers.yaml", "      property: score\n", "      property: nps\n", "property: nps",
     "event type 'nps_submitted' has no property 'nps' (it has: score)"),
    ("unknown-nested-property", "triggers.yaml", "{property: csat, gte: 4}", "{property: rating, gte: 4}", "rating",
     "event type 'ticket_resolved' has no property 'rating' (it has: csat, ticket_id)"),
    ("unknown-dotted-property", "triggers.yaml", "      property: score\n", "      property: survey.score\n",
     "survey.score", "event type 'nps_submitted' has no property 'survey.score' (it has: score)"),
    ("time-rule-with-property", "triggers.yaml", "      days: 120\n",
     "      days: 120\n    when: {property: score, gte: 9}\n", "when: {property",
     "a time-based rule has no event: use 'customer' conditions only"),
    ("signal-unknown-event", "triggers.yaml", "      - event: nps_submitted\n", "      - event: nps_answered\n",
     "nps_answered", "unknown event type 'nps_answered' (events.yaml knows: milestone_reached, nps_submitted, "
     "ticket_opened, ticket_resolved)"),
    ("signal-unknown-property", "triggers.yaml", "{property: score, lte: 6}", "{property: rating, lte: 6}", "rating",
     "event type 'nps_submitted' has no property 'rating' (it has: score)"),
    ("signal-unknown-resolution", "triggers.yaml", "unresolved_by: ticket_resolved", "unresolved_by: ticket_done",
     "ticket_done", "unknown event type 'ticket_done' (events.yaml knows: milestone_reached, nps_submitted, "
     "ticket_opened, ticket_resolved)"),
    ("rule-guard-override-signal", "triggers.yaml", "    priority: 30\n",
     "    priority: 30\n    guards:\n      detractor:\n        signals:\n          - event: complaint_filed\n",
     "complaint_filed", "unknown event type 'complaint_filed'"),
    ("test-unknown-variant", "campaigns.yaml", WINDOW, "    test:\n      arms:\n        - {variant: thanks, "
     "incentive: donation}\n" + WINDOW, "thanks",
     "unknown variant 'thanks' (this campaign has: gratitude, direct_ask)"),
    ("test-unknown-incentive", "campaigns.yaml", WINDOW, "    test:\n      arms:\n        - variant: gratitude\n"
     "          incentive: cash\n" + WINDOW, "cash",
     "unknown incentive 'cash' (this campaign has: give50_get50, donation)"),
    ("test-floors-beyond-every-request", "campaigns.yaml", WINDOW, "    test:\n      exploration_floor: 0.3\n" + WINDOW,
     "exploration_floor", "an exploration floor of 0.3 for each of 4 running arms is more than every request"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file", "old", "new", "marker", "message"),
    [c[1:] for c in CASES + CROSS_CASES],
    ids=[c[0] for c in CASES + CROSS_CASES],
)
def test_a_mistake_is_reported_with_its_file_and_line(
    tmp_path: Path, file: str, old: str, new: str, marker: str, message: str
) -> None:
    """It reports one problem per mistake as path:line: message, the line being the offending node's."""
    write_config(tmp_path, (file, old, new))
    problems = problems_of(tmp_path)
    path = tmp_path / file
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem.path, problem.line) == (str(path), line_of(path, marker)), str(problem)
    assert message in problem.message
    assert str(problem) == f"{path}:{problem.line}: {problem.message}"


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    """It collects the problems of all files in one error, file by file, each with its own line."""
    write_config(
        tmp_path,
        ("events.yaml", "      score: {type: integer, min: 0, max: 10}", "      score: {type: count}"),
        ("triggers.yaml", "    priority: 20\n", "    priority: high\n    colour: red\n"),
        ("campaigns.yaml", "        cost: 25\n", "        cost: free\n"),
    )
    problems = problems_of(tmp_path)
    assert [(Path(p.path).name, p.line) for p in problems] == [
        ("events.yaml", line_of(tmp_path / "events.yaml", "count")),
        ("triggers.yaml", line_of(tmp_path / "triggers.yaml", "high")),
        ("triggers.yaml", line_of(tmp_path / "triggers.yaml", "colour")),
        ("campaigns.yaml", line_of(tmp_path / "campaigns.yaml", "cost: free")),
    ]


def test_every_cross_file_problem_is_reported_at_once(tmp_path: Path) -> None:
    """It reports every unknown name across the files in one error."""
    write_config(
        tmp_path,
        ("triggers.yaml", "    event: ticket_resolved\n", "    event: ticket_closed\n"),
        (
            "triggers.yaml",
            "    priority: 5\n    campaign: customer_referral\n",
            "    priority: 5\n    campaign: nope\n",
        ),
        ("triggers.yaml", "      property: score\n", "      property: nps\n"),
    )
    problems = problems_of(tmp_path)
    path = tmp_path / "triggers.yaml"
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (line_of(path, "property: nps"), "event type 'nps_submitted' has no property 'nps'"),
        (line_of(path, "ticket_closed"), "unknown event type 'ticket_closed'"),
        (line_of(path, "campaign: nope"), "unknown campaign 'nope'"),
    ]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """It names a config file that is missing, alongside the other files' problems."""
    write_config(tmp_path, ("triggers.yaml", "    priority: 30\n", "    priority: high\n"))
    (tmp_path / "campaigns.yaml").unlink()
    problems = problems_of(tmp_path)
    assert [(Path(p.path).name, p.line) for p in problems] == [
        ("triggers.yaml", line_of(tmp_path / "triggers.yaml", "high")),
        ("campaigns.yaml", None),
    ]
    assert problems[1].message == "cannot read: No such file or directory"
    assert str(problems[1]) == f"{tmp_path / 'campaigns.yaml'}: cannot read: No such file or directory"


def test_an_empty_file_lacks_its_required_keys(tmp_path: Path) -> None:
    """It reports an empty file by the key it lacks."""
    write_config(tmp_path)
    (tmp_path / "triggers.yaml").write_text("# nothing yet\n")
    problems = problems_of(tmp_path)
    assert [str(p) for p in problems] == [f"{tmp_path / 'triggers.yaml'}: rules: Field required"]


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    """It reports a file whose top level is a list instead of keys."""
    write_config(tmp_path)
    (tmp_path / "events.yaml").write_text("- nps_submitted\n- ticket_opened\n")
    (problem,) = problems_of(tmp_path)
    assert problem.line == 1
    assert problem.message.startswith("(top level): Input should be a valid dictionary")


def test_a_signal_matches_its_resolution_by_a_property_both_events_have(tmp_path: Path) -> None:
    """It reports a match_property that the opening or the resolving event type lacks (no ticket would match)."""
    write_config(tmp_path, ("triggers.yaml", "match_property: ticket_id", "match_property: ticket"))
    path = tmp_path / "triggers.yaml"
    line = line_of(path, "match_property: ticket")
    assert [str(p) for p in problems_of(tmp_path)] == [
        f"{path}:{line}: event type 'ticket_opened' has no property 'ticket' (it has: ticket_id)",
        f"{path}:{line}: event type 'ticket_resolved' has no property 'ticket' (it has: csat, ticket_id)",
    ]


#: Values detection and sending compute dates from: each out of range is refused where it is written,
#: before a run could overflow a date after it wrote moments, or after a provider accepted a send.
OUT_OF_RANGE = [
    ("follow-up-days", "campaigns.yaml", '      end: "17:00"\n',
     '      end: "17:00"\n    follow_ups:\n      after_days: [3000000]\n', "after_days",
     "a follow-up goes at most 365 days after the first email"),
    ("max-age-infinite", "triggers.yaml", "guards:\n", "guards:\n  staleness:\n    max_age_days: .inf\n",
     "max_age_days", "finite number"),
    ("max-age-huge", "triggers.yaml", "guards:\n", "guards:\n  staleness:\n    max_age_days: 1000000000\n",
     "max_age_days", "less than or equal to 3650"),
    ("lookback", "triggers.yaml", "    lookback_days: 30\n", "    lookback_days: 1000000000\n",
     "lookback_days", "less than or equal to 3650"),
    ("time-rule-days", "triggers.yaml", "      days: 120\n", "      days: 1000000000\n", "days: 1000000000",
     "less than or equal to 3650"),
    ("approval-expiry", "campaigns.yaml", '      end: "17:00"\n',
     '      end: "17:00"\n    approval:\n      expires_after_days: 1000000000\n', "expires_after_days",
     "less than or equal to 365"),
    ("condition-nan", "triggers.yaml", "      gte: 9\n", "      gte: .nan\n", "gte: .nan", "finite number"),
    ("reward-infinite", "campaigns.yaml", "value: 50, currency: USD}", "value: .inf, currency: USD}", ".inf",
     "finite number"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file", "old", "new", "marker", "message"), [c[1:] for c in OUT_OF_RANGE], ids=[c[0] for c in OUT_OF_RANGE]
)
def test_a_value_no_date_can_hold_is_refused_where_it_is_written(
    tmp_path: Path, file: str, old: str, new: str, marker: str, message: str
) -> None:
    """It refuses a span of days or an amount out of range (or infinite) at its file and line."""
    write_config(tmp_path, (file, old, new))
    [problem] = problems_of(tmp_path)
    path = tmp_path / file
    assert (problem.path, problem.line) == (str(path), line_of(path, marker)), str(problem)
    assert message in problem.message, problem.message
