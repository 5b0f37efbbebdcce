"""The marketer-edited YAML in ``config/`` as pydantic models: every key checked, nothing unknown.

One model per file (``EventsConfig``, ``TriggersConfig``, ``CampaignsConfig``, ``DeliveryConfig``)
under ``AppConfig``; ``loader`` reads them with ``path:line`` errors and ``checks`` cross-checks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from referral_automation.config.base import (
    CUSTOMER_DATES,
    MAX_AMOUNT,
    MAX_DAYS,
    WEEKDAYS,
    WITHIN,
    Slug,
    Strict,
    Weekday,
    refuse_duplicate_ids,
)
from referral_automation.config.conditions import Condition
from referral_automation.errors import Problem

#: A follow-up later than this is no follow-up any more: the customer has forgotten the first email.
MAX_FOLLOW_UP_DAYS = 365


# --------------------------------------------------------------------------- event types
class PropertySpec(Strict):
    """What a property of a journey event must look like."""

    type: Literal["integer", "number", "string", "boolean"]
    required: bool = True
    min: float | None = None
    max: float | None = None


class EventType(Strict):
    description: str = ""
    properties: dict[str, PropertySpec] = Field(default_factory=dict)


class EventsConfig(Strict):
    """``events.yaml``: the journey event types the engine knows and checks on ingest."""

    event_types: dict[str, EventType]


# --------------------------------------------------------------------------- guards
class TenureGuard(Strict):
    enabled: bool = True
    min_days: int = Field(90, ge=0, le=MAX_DAYS)


class ConsentGuard(Strict):
    enabled: bool = True
    require_opt_in: bool = True
    check_suppressions: bool = True


class DetractorSignal(Strict):
    """An event that marks a customer as unhappy: matched by ``when``, or (with
    ``unresolved_by``) an event not yet followed by its resolution with the same ``match_property``."""

    event: str
    when: Condition | None = None
    unresolved_by: str | None = None
    match_property: str | None = None

    @model_validator(mode="after")
    def _resolution_needs_key(self) -> DetractorSignal:
        if (self.unresolved_by is None) != (self.match_property is None):
            raise ValueError("'unresolved_by' and 'match_property' go together")
        return self


class DetractorGuard(Strict):
    enabled: bool = True
    lookback_days: int = Field(30, ge=0, le=MAX_DAYS)
    signals: list[DetractorSignal] = Field(default_factory=list)


class CooldownGuard(Strict):
    enabled: bool = True
    days: int = Field(90, ge=0, le=MAX_DAYS)


class StalenessGuard(Strict):
    enabled: bool = True
    max_age_days: float = Field(7, gt=0, le=MAX_DAYS)


class Guards(Strict):
    """The checks a moment must pass before anyone is asked, in the order they are applied."""

    staleness: StalenessGuard = StalenessGuard()
    consent: ConsentGuard = ConsentGuard()
    tenure: TenureGuard = TenureGuard()
    cooldown: CooldownGuard = CooldownGuard()
    detractor: DetractorGuard = DetractorGuard()


class GuardOverrides(Strict):
    """Per-rule replacements of whole guards; a guard not named here comes from ``guards:``."""

    staleness: StalenessGuard | None = None
    consent: ConsentGuard | None = None
    tenure: TenureGuard | None = None
    cooldown: CooldownGuard | None = None
    detractor: DetractorGuard | None = None


# --------------------------------------------------------------------------- trigger rules
class TimeTrigger(Strict):
    """A moment that comes with time: ``days`` after a customer date (evaluated on every run)."""

    days: int = Field(ge=0, le=MAX_DAYS)
    since: str = "first_purchase_at"

    @field_validator("since")
    @classmethod
    def _known_date(cls, value: str) -> str:
        if value not in CUSTOMER_DATES:
            raise ValueError(f"'since' must be one of {', '.join(sorted(CUSTOMER_DATES))}")
        return value


class TriggerRule(Strict):
    """One kind of positive moment of truth and the campaign it feeds."""

    id: Slug
    description: str = ""
    enabled: bool = True
    event: str | None = None
    after: TimeTrigger | None = None
    when: Condition | None = None
    priority: int = Field(ge=-1000, le=1000)
    campaign: Slug
    guards: GuardOverrides = GuardOverrides()

    @model_validator(mode="after")
    def _event_or_time(self) -> TriggerRule:
        if (self.event is None) == (self.after is None):
            raise ValueError("give exactly one of 'event' (an event type) or 'after' (a time-based rule)")
        return self

    def effective_guards(self, defaults: Guards) -> Guards:
        """The global guards with this rule's overrides applied."""
        replaced = {name: value for name, value in self.guards if value is not None}
        return defaults.model_copy(update=replaced)


class TriggersConfig(Strict):
    """``triggers.yaml``: the rules and the guards every rule shares."""

    guards: Guards = Guards()
    rules: list[TriggerRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> TriggersConfig:
        refuse_duplicate_ids("rule", "rules", [rule.id for rule in self.rules])
        return self


# --------------------------------------------------------------------------- campaigns
class SendWindow(Strict):
    """When emails may go out, in the customer's own time zone."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 17:00 as the number 1020, which pydantic would take as seconds.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError('write the time in quotes, like "17:00" (unquoted, YAML reads 17:00 as a number)')
        return value

    @field_validator("start", "end")
    @classmethod
    def _local_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a send window time has no time zone: it is read in the customer's own zone")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> SendWindow:
        if self.start >= self.end:
            raise ValueError("'start' must be before 'end'")
        return self


class ApprovalPolicy(Strict):
    """Which customers a success manager approves before they are asked."""

    lifetime_value_at_least: Decimal | None = Field(Decimal(50000), ge=0, le=MAX_AMOUNT)
    plans: list[str] = Field(default_factory=lambda: ["enterprise"])
    expires_after_days: int = Field(14, ge=1, le=365)


class FollowUps(Strict):
    """Days after the first send at which follow-ups go, while nobody has responded."""

    after_days: list[int] = Field(default_factory=lambda: [3, 7], max_length=5)
    #: The follow-up template (every step renders it; ``step`` tells them apart).
    #: Default: ``<campaign id>/follow_up``.
    template: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-/]+$")

    @field_validator("after_days")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(day <= 0 for day in value) or value != sorted(set(value)):
            raise ValueError("follow-up days must be positive and increasing")
        if value and value[-1] > MAX_FOLLOW_UP_DAYS:
            raise ValueError(f"a follow-up goes at most {MAX_FOLLOW_UP_DAYS} days after the first email")
        return value


class Reward(Strict):
    """What one side of a referral receives."""

    kind: Literal["monetary", "credit", "discount_percent", "gift", "donation", "none"]
    value: Decimal = Field(Decimal(0), ge=0, le=MAX_AMOUNT)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    description: str = ""


class Incentive(Strict):
    id: Slug
    sides: Literal["double", "single"]
    referrer: Reward
    referee: Reward | None = None
    cost: Decimal = Field(ge=0, le=MAX_AMOUNT, description="what one converted referral costs the program")
    text: str = Field(min_length=1, description="how the incentive is told to the customer")
    cap: int | None = Field(None, ge=1, le=1_000_000, description="e.g. 50: only the first 50 who refer are rewarded")
    #: ``text`` in other languages, by locale (``de``, ``pt-BR``); emails in that locale use it.
    translations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sides_match(self) -> Incentive:
        if self.sides == "double" and self.referee is None:
            raise ValueError("a double-sided incentive needs a 'referee' reward")
        if self.sides == "single" and self.referee is not None:
            raise ValueError("a single-sided incentive has no 'referee' reward")
        return self


class Variant(Strict):
    """A message variant: the template it renders (relative to the templates directory)."""

    id: Slug
    template: str = Field(pattern=r"^[A-Za-z0-9_\-/]+$")
    description: str = ""


#: The exploration floor of an arm unless configured, and the most all floors together take by default.
DEFAULT_FLOOR = 0.02
DEFAULT_FLOORS_IN_ALL = 0.5


class ArmSpec(Strict):
    """One arm of a campaign's test: a message variant sent with an incentive."""

    variant: Slug
    incentive: Slug
    #: A paused arm gets no new requests; what it has recorded still counts.
    paused: bool = False
    #: The arm's weight under ``policy: fixed`` (any scale; an arm without one gets none).
    weight: float | None = Field(None, ge=0, le=1e6)


class ArmTest(Strict):
    """How a campaign tests its variants × incentives against each other while it runs.

    The policy moves traffic towards the arms that earn most on the objective; an exploration
    floor keeps every arm in play until it has enough settled sends to judge, and a holdout is
    chosen uniformly so the policy's own lift can be measured.
    """

    policy: Literal["thompson", "uniform", "fixed"] = "thompson"
    objective: Literal["reply", "referral", "conversion", "profit"] = "profit"
    #: Share of requests whose arm is drawn uniformly among the unpaused arms, whatever the policy.
    holdout: float = Field(0.05, ge=0, lt=1)
    #: Each unpaused arm's minimum share of requests (its holdout picks included) while it has fewer
    #: settled sends than ``floor_until_settled_sends``
    #: (default: 2 %, less when more than 25 arms run, so the floors never hold more than half the requests).
    exploration_floor: float | None = Field(None, ge=0, le=1)
    floor_until_settled_sends: int = Field(100, ge=0, le=1_000_000)
    #: What a converted referee is worth before any conversion value is recorded (``profit`` only):
    #: without it, profit ranks the arms by conversions until the first values come in.
    conversion_value: Decimal | None = Field(None, ge=0, le=Decimal(10) ** 12)
    #: The combinations that run (default: every variant with every incentive).
    arms: list[ArmSpec] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> ArmTest:
        arms = self.arms or []
        seen: set[tuple[str, str]] = set()
        for index, arm in enumerate(arms):
            if (arm.variant, arm.incentive) in seen:
                raise PydanticCustomError(
                    "duplicate_arm",
                    "arm {variant} × {incentive} is listed twice",
                    {"variant": arm.variant, "incentive": arm.incentive, WITHIN: ("arms", index)},
                )
            seen.add((arm.variant, arm.incentive))
        if arms and all(arm.paused for arm in arms):
            raise ValueError("every arm is paused: leave at least one running")
        weighted = [index for index, arm in enumerate(arms) if arm.weight is not None]
        if self.policy != "fixed" and weighted:
            raise PydanticCustomError(
                "weight_without_fixed",
                "a weight applies to policy 'fixed' only (this test's policy is {policy})",
                {"policy": repr(self.policy), WITHIN: ("arms", weighted[0], "weight")},
            )
        if self.policy == "fixed" and not any(arm.weight and not arm.paused for arm in arms):
            raise ValueError("policy 'fixed' needs its arms listed, at least one unpaused arm with a positive weight")
        return self


class Identity(Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    name: str = ""


class Campaign(Strict):
    kind: Literal["customer", "partner", "influencer"]
    name: str
    description: str = ""
    sender: Identity
    reply_to: Identity | None = None
    landing_page: str = Field(pattern=r"^https?://\S+$")
    variants: list[Variant] = Field(min_length=1)
    incentives: list[Incentive] = Field(min_length=1)
    follow_ups: FollowUps = FollowUps()
    approval: ApprovalPolicy = ApprovalPolicy()
    send_window: SendWindow = SendWindow()
    #: The multi-armed test of this campaign's variants × incentives.
    test: ArmTest = ArmTest()

    @model_validator(mode="after")
    def _unique_arm_ids(self) -> Campaign:
        refuse_duplicate_ids("variant", "variants", [v.id for v in self.variants])
        refuse_duplicate_ids("incentive", "incentives", [i.id for i in self.incentives])
        return self

    def exploration_floor(self) -> float:
        """The test's floor: as configured, else 2 % an arm, at most half of every request in all."""
        if self.test.exploration_floor is not None:
            return self.test.exploration_floor
        running = sum(1 for arm in self.arms() if not arm.paused)
        return min(DEFAULT_FLOOR, DEFAULT_FLOORS_IN_ALL / max(running, 1))

    def arms(self) -> list[ArmSpec]:
        """The arms of the test: those listed, else every variant with every incentive."""
        if self.test.arms is not None:
            return list(self.test.arms)
        return [ArmSpec(variant=v.id, incentive=i.id) for v in self.variants for i in self.incentives]

    def variant(self, variant_id: str) -> Variant:
        return next(v for v in self.variants if v.id == variant_id)

    def incentive(self, incentive_id: str) -> Incentive:
        return next(i for i in self.incentives if i.id == incentive_id)

    def follow_up_template(self, campaign_id: str) -> str:
        """The template of this campaign's follow-ups (``<campaign id>/follow_up`` unless named)."""
        return self.follow_ups.template or f"{campaign_id}/follow_up"


class CampaignsConfig(Strict):
    """``campaigns.yaml``: every referral program, keyed by its id."""

    campaigns: dict[Slug, Campaign] = Field(min_length=1)


# --------------------------------------------------------------------------- delivery (optional file)
class Tracking(Strict):
    """SendGrid's own open and click tracking (our ``/r/`` links count referral clicks either way)."""

    click: bool = False
    open: bool = True


class SendGridDelivery(Strict):
    """How the SendGrid backend sends: settings of the account and of our own politeness."""

    sandbox_mode: bool = False
    tracking: Tracking = Tracking()
    asm_group_id: int | None = Field(None, ge=1, description="SendGrid unsubscribe group (ASM), if any")
    rate_limit_per_second: float = Field(250, gt=0, le=10000)
    concurrency: int = Field(32, ge=1, le=256)
    timeout_seconds: float = Field(30, gt=0, le=300)
    max_attempts: int = Field(5, ge=1, le=20)
    #: How long an unanswered send waits for a SendGrid event before it may be sent again: the Event
    #: Webhook is retried for a day, so an event can come that late.
    reconcile_window_minutes: int = Field(24 * 60, ge=1, le=7 * 24 * 60)
    #: Ask the Email Activity API (a paid add-on) about an unanswered send before sending it again.
    email_activity_api: bool = False
    #: A batch starts no new attempt after this long, so it ends well within the send lease (15 minutes).
    batch_time_limit_seconds: float = Field(600, gt=0, le=3600)


class DeliveryConfig(Strict):
    """``delivery.yaml`` (optional: these defaults apply when it is absent)."""

    sendgrid: SendGridDelivery = SendGridDelivery()


# --------------------------------------------------------------------------- the whole configuration
class AppConfig(Strict):
    """Every file of ``config/``, loaded and cross-checked (``load_config``)."""

    events: EventsConfig
    triggers: TriggersConfig
    campaigns: CampaignsConfig
    delivery: DeliveryConfig = DeliveryConfig()
    _warnings: tuple[Problem, ...] = PrivateAttr(default=())

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """What loading found worth a look that stops nothing (``path:line: warning: …``)."""
        return self._warnings

    def with_warnings(self, warnings: Sequence[Problem]) -> AppConfig:
        """This configuration carrying ``warnings``."""
        copy = self.model_copy()
        copy._warnings = tuple(warnings)
        return copy

    def campaign(self, campaign_id: str) -> Campaign:
        return self.campaigns.campaigns[campaign_id]
