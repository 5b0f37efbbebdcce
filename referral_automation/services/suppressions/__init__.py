"""The suppression list by hand: addresses an operator adds or lifts, each change audited.

Providers' events and unsubscribe links add most suppressions (``services.responses``); this is
for the rest: a customer who asked on the phone, an address support knows is dead.
"""

from referral_automation.services.suppressions.manage import (
    MANUAL,
    SuppressionChange,
    SuppressionError,
    SuppressionView,
    add_suppressions,
    list_suppressions,
    remove_suppressions,
)

__all__ = [
    "MANUAL",
    "SuppressionChange",
    "SuppressionError",
    "SuppressionView",
    "add_suppressions",
    "list_suppressions",
    "remove_suppressions",
]
