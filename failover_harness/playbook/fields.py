"""What every playbook model shares: the strict base model, name and duration fields, and
errors that point at one field of a step."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

Name = Annotated[str, Field(min_length=1, max_length=128)]
Seconds = Annotated[float, Field(gt=0, le=86400)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True,
                              populate_by_name=True)


def needs(field: str, why: str) -> PydanticCustomError:
    # `field_hint` makes the error point at the field, not at the whole step.
    return PydanticCustomError("field_required_for", "required {why}",
                               {"field_hint": field, "why": why})


def forbids(field: str, why: str) -> PydanticCustomError:
    return PydanticCustomError("field_not_allowed", "not allowed {why}",
                               {"field_hint": field, "why": why})
