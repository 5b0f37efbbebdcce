"""The synthetic world of ``simulate --arms FILE``: a YAML or JSON list of arms, every mistake at its line.

Each arm is ``{name, rate, value, cost, delay_days}``: its true conversion probability, what a
converted referee is worth, the incentive paid per conversion and the mean delay of a conversion
in days (3 when left out). JSON is YAML too, so one reader with line numbers serves both.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, RootModel, model_validator
from pydantic_core import PydanticCustomError

from referral_automation.config import Strict, load_file
from referral_automation.config.base import WITHIN
from referral_automation.errors import ConfigError, InputError
from referral_automation.services.bandit.simulator import SimArm

#: More arms than this is no test a campaign runs (and each costs every refresh).
MAX_ARMS = 100


class ArmSpec(Strict):
    """One arm of the world as the file gives it."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    rate: float = Field(ge=0, le=1, description="the probability that a send converts")
    value: float = Field(ge=0, le=1e9, description="what one converted referee is worth")
    cost: float = Field(ge=0, le=1e9, description="the incentive paid per conversion")
    delay_days: float = Field(3.0, ge=0, le=365, description="the mean delay of a conversion")


class WorldFile(RootModel[list[ArmSpec]]):
    root: list[ArmSpec] = Field(min_length=1, max_length=MAX_ARMS)

    @model_validator(mode="after")
    def _distinct_names(self) -> WorldFile:
        seen: set[str] = set()
        for index, arm in enumerate(self.root):
            if arm.name in seen:
                raise PydanticCustomError(
                    "duplicate_arm", "arm name {name} is used twice", {"name": repr(arm.name), WITHIN: (index, "name")}
                )
            seen.add(arm.name)
        return self


def load_world(path: Path) -> list[SimArm]:
    """The arms of ``path``; ``InputError`` with every problem as ``path:line: message``."""
    try:
        _doc, world = load_file(path, WorldFile)
    except ConfigError as error:
        raise InputError(error.problems) from error
    return [SimArm(arm.name, arm.rate, arm.value, arm.cost, arm.delay_days) for arm in world.root]
