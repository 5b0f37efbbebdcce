"""What every config model shares: strictness, the names a condition may use, duplicate-id errors."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

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

#: Key of an error's context that names where inside the model it is (a model validator's own
#: location is the whole model, whose line is not where the reader must look).
WITHIN = "within"


#: The longest span of days a setting may name (a ten-year anniversary, a decade of tenure).
#: Dates computed from bigger spans would fall outside what the databases and ``datetime`` hold.
MAX_DAYS = 3650
#: The largest amount of money a reward, a cost or a threshold may name.
MAX_AMOUNT = 1_000_000_000


class Strict(BaseModel):
    """Every config model: unknown keys are errors, values are immutable once loaded, and no
    number is infinite or not a number (``.inf`` in YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def refuse_duplicate_ids(label: str, field: str, ids: list[str]) -> None:
    """Raise at the second use of an id, locating the error at that item's ``id``."""
    seen: set[str] = set()
    for index, item_id in enumerate(ids):
        if item_id in seen:
            raise PydanticCustomError(
                "duplicate_id", f"{label} id {{id}} is used twice", {"id": repr(item_id), WITHIN: (field, index, "id")}
            )
        seen.add(item_id)
