"""The marketer-edited configuration (``config/*.yaml``): models, loading with ``path:line`` errors, checks.

Import from here: ``from referral_automation.config import AppConfig, Campaign, load_config``.

- ``models``: one pydantic model per file (``extra="forbid"``: an unknown key is an error);
- ``conditions``: trigger-rule conditions and the one walk of their tree (``fold``);
- ``loader``: ``load_config`` and ``load_delivery_config``, collecting every problem of every file;
- ``checks``: names one file gives and another must know (campaigns, event types, properties);
- ``source``: YAML that remembers the line of every value.
"""

from referral_automation.config.base import CUSTOMER_DATES, CUSTOMER_FIELDS, WEEKDAYS, Strict
from referral_automation.config.conditions import (
    OPERATORS,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    NotOf,
    comparisons,
    fold,
    names_customer,
)
from referral_automation.config.loader import load_config, load_delivery_config, load_file
from referral_automation.config.models import (
    AppConfig,
    ApprovalPolicy,
    ArmSpec,
    ArmTest,
    Campaign,
    CampaignsConfig,
    ConsentGuard,
    CooldownGuard,
    DeliveryConfig,
    DetractorGuard,
    DetractorSignal,
    EventsConfig,
    EventType,
    FollowUps,
    GuardOverrides,
    Guards,
    Identity,
    Incentive,
    PropertySpec,
    Reward,
    SendGridDelivery,
    SendWindow,
    StalenessGuard,
    TenureGuard,
    TimeTrigger,
    Tracking,
    TriggerRule,
    TriggersConfig,
    Variant,
)

__all__ = [
    "CUSTOMER_DATES",
    "CUSTOMER_FIELDS",
    "OPERATORS",
    "WEEKDAYS",
    "AllOf",
    "AnyOf",
    "AppConfig",
    "ApprovalPolicy",
    "ArmSpec",
    "ArmTest",
    "Campaign",
    "CampaignsConfig",
    "Comparison",
    "Condition",
    "ConsentGuard",
    "CooldownGuard",
    "DeliveryConfig",
    "DetractorGuard",
    "DetractorSignal",
    "EventType",
    "EventsConfig",
    "FollowUps",
    "GuardOverrides",
    "Guards",
    "Identity",
    "Incentive",
    "NotOf",
    "PropertySpec",
    "Reward",
    "SendGridDelivery",
    "SendWindow",
    "StalenessGuard",
    "Strict",
    "TenureGuard",
    "TimeTrigger",
    "Tracking",
    "TriggerRule",
    "TriggersConfig",
    "Variant",
    "comparisons",
    "fold",
    "load_config",
    "load_delivery_config",
    "load_file",
    "names_customer",
]
