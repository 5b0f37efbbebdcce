"""The marketer-edited YAML in ``config/``, as pydantic models with ``extra="forbid"``.

``load_config`` reads ``events.yaml``, ``triggers.yaml`` and ``campaigns.yaml`` and either returns
an ``AppConfig`` or raises ``ConfigError`` listing *every* problem as ``path:line: message``,
the line being that of the offending YAML node. Cross-file checks (a rule naming an unknown
campaign, event type or property) are reported the same way.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from referral_automation.errors import ConfigError, Problem
from referral_automation.yamlsource import Location, YamlDocument, load_yaml

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=100)]
Scalar = str | int | float | bool
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Customer fields a condition may name (``tenure_days`` is derived at the moment's time).
CUSTOMER_FIELDS = frozenset(
    {
        "customer_id", "email", "first_name", "last_name", "company", "plan", "lifetime_value",
        "first_purchase_at", "timezone", "locale", "marketing_opt_in", "tenure_days",
    }
)  # fmt: skip
#: Customer datetime fields a time-based rule may count from.
CUSTOMER_DATES = frozenset({"first_purchase_at"})


class Strict(BaseModel):
    """Every config model: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- conditions
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists")


class Comparison(Strict):
    """A leaf condition: one field (of the event's ``property`` or the ``customer``), one operator."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    property: str | None = None
    customer: str | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    exists: bool | None = None
    _operator: str = PrivateAttr("")

    @model_validator(mode="after")
    def _one_field_one_operator(self) -> Comparison:
        if (self.property is None) == (self.customer is None):
            raise ValueError("name exactly one of 'property' (of the event) or 'customer'")
        if self.customer is not None and self.customer not in CUSTOMER_FIELDS:
            known = ", ".join(sorted(CUSTOMER_FIELDS))
            raise ValueError(f"unknown customer field {self.customer!r} (known: {known})")
        given = [op for op in OPERATORS if self.operand(op) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one operator of {', '.join(OPERATORS)}; got {given or 'none'}")
        # Remembered here, once: conditions are evaluated for every event a rule sees.
        self._operator = given[0]
        return self

    def operand(self, op: str) -> Any:
        return getattr(self, "in_" if op == "in" else op)

    def operator(self) -> str:
        """The one operator this comparison uses (a method: ``property`` is a field here)."""
        # Read straight from pydantic's store: ``self._operator`` goes through a slow ``__getattr__``.
        # Empty for a copy built without validation: then look it up.
        op: str = (self.__pydantic_private__ or {}).get("_operator", "")
        if op and self.operand(op) is not None:
            return op
        return next(op for op in OPERATORS if self.operand(op) is not None)


class AllOf(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(Strict):
    not_: Condition = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


#: Union tags (pydantic puts them in error locations; they are not YAML keys).
CONDITION_TAGS = {"all": "all-of", "any": "any-of", "not": "not-of"}


def _condition_kind(value: Any) -> str:
    """Pick the condition model from its key, so errors speak of that model alone."""
    if isinstance(value, dict):
        for key, tag in CONDITION_TAGS.items():
            if key in value:
                return tag
    elif isinstance(value, AllOf):
        return "all-of"
    elif isinstance(value, AnyOf):
        return "any-of"
    elif isinstance(value, NotOf):
        return "not-of"
    return "comparison"


Condition = Annotated[
    Annotated[AllOf, Tag("all-of")]
    | Annotated[AnyOf, Tag("any-of")]
    | Annotated[NotOf, Tag("not-of")]
    | Annotated[Comparison, Tag("comparison")],
    Discriminator(_condition_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


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
    min_days: int = Field(90, ge=0)


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
    lookback_days: int = Field(30, ge=0)
    signals: list[DetractorSignal] = Field(default_factory=list)


class CooldownGuard(Strict):
    enabled: bool = True
    days: int = Field(90, ge=0)


class StalenessGuard(Strict):
    enabled: bool = True
    max_age_days: float = Field(7, gt=0)


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
#: Key of an error's context that names where inside the model it is (a model validator's own
#: location is the whole model, whose line is not where the reader must look).
WITHIN = "within"


def _refuse_duplicate_ids(label: str, field: str, ids: list[str]) -> None:
    """Raise at the second use of an id, locating the error at that item's ``id``."""
    seen: set[str] = set()
    for index, item_id in enumerate(ids):
        if item_id in seen:
            raise PydanticCustomError(
                "duplicate_id", f"{label} id {{id}} is used twice", {"id": repr(item_id), WITHIN: (field, index, "id")}
            )
        seen.add(item_id)


class TimeTrigger(Strict):
    """A moment that comes with time: ``days`` after a customer date (evaluated on every run)."""

    days: int = Field(ge=0)
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
    priority: int
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
        _refuse_duplicate_ids("rule", "rules", [rule.id for rule in self.rules])
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

    lifetime_value_at_least: Decimal | None = Decimal(50000)
    plans: list[str] = Field(default_factory=lambda: ["enterprise"])
    expires_after_days: int = Field(14, ge=1)


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
        return value


class Reward(Strict):
    """What one side of a referral receives."""

    kind: Literal["monetary", "credit", "discount_percent", "gift", "donation", "none"]
    value: Decimal = Field(Decimal(0), ge=0)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    description: str = ""


class Incentive(Strict):
    id: Slug
    sides: Literal["double", "single"]
    referrer: Reward
    referee: Reward | None = None
    cost: Decimal = Field(ge=0, description="what one converted referral costs the program")
    text: str = Field(min_length=1, description="how the incentive is told to the customer")
    cap: int | None = Field(None, ge=1, description="e.g. 50: only the first 50 who refer are rewarded")
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

    @model_validator(mode="after")
    def _unique_arm_ids(self) -> Campaign:
        _refuse_duplicate_ids("variant", "variants", [v.id for v in self.variants])
        _refuse_duplicate_ids("incentive", "incentives", [i.id for i in self.incentives])
        return self

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
    reconcile_window_minutes: int = Field(30, ge=1)
    #: A batch starts no new attempt after this long, so it ends well within the send lease (15 minutes).
    batch_time_limit_seconds: float = Field(600, gt=0, le=3600)


class DeliveryConfig(Strict):
    """``delivery.yaml`` (optional: these defaults apply when it is absent)."""

    sendgrid: SendGridDelivery = SendGridDelivery()


# --------------------------------------------------------------------------- loading
class AppConfig(Strict):
    events: EventsConfig
    triggers: TriggersConfig
    campaigns: CampaignsConfig
    delivery: DeliveryConfig = DeliveryConfig()

    def campaign(self, campaign_id: str) -> Campaign:
        return self.campaigns.campaigns[campaign_id]


FILES: dict[str, type[Strict]] = {
    "events": EventsConfig,
    "triggers": TriggersConfig,
    "campaigns": CampaignsConfig,
}


def _problems_from(doc: YamlDocument, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc: Location = tuple(part for part in item["loc"] if not _is_union_tag(part))
        loc = (*loc, *item.get("ctx", {}).get(WITHIN, ()))
        where = ".".join(str(part) for part in loc) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
            where = ".".join(str(part) for part in loc[:-1]) or "(top level)"
        problems.append(doc.problem(loc, f"{where}: {message}"))
    return problems


def _is_union_tag(part: int | str) -> bool:
    return part in ("all-of", "any-of", "not-of", "comparison")


def load_file(path: Path, model: type[Strict]) -> tuple[YamlDocument, Any]:
    """Load one YAML file into ``model``; raise ``ConfigError`` with every problem in it."""
    doc = load_yaml(path)
    try:
        return doc, model.model_validate(doc.data)
    except ValidationError as error:
        raise ConfigError(_problems_from(doc, error)) from error


def load_delivery_config(config_dir: Path) -> DeliveryConfig:
    """``delivery.yaml`` alone (its defaults when absent), for a sender made without the whole config."""
    path = config_dir / "delivery.yaml"
    if not path.exists():
        return DeliveryConfig()
    delivery: DeliveryConfig = load_file(path, DeliveryConfig)[1]
    return delivery


def load_config(config_dir: Path) -> AppConfig:
    """Load and cross-check the whole configuration, collecting problems from every file."""
    problems: list[Problem] = []
    docs: dict[str, YamlDocument] = {}
    parts: dict[str, Any] = {}
    for name, model in FILES.items():
        try:
            docs[name], parts[name] = load_file(config_dir / f"{name}.yaml", model)
        except ConfigError as error:
            problems.extend(error.problems)
    if (config_dir / "delivery.yaml").exists():  # optional: DeliveryConfig's defaults otherwise
        try:
            docs["delivery"], parts["delivery"] = load_file(config_dir / "delivery.yaml", DeliveryConfig)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    config = AppConfig(**parts)
    from referral_automation.config_checks import cross_check

    problems = cross_check(config, docs)
    if problems:
        raise ConfigError(problems)
    return config
