"""The referral API for the product's back end (bearer ``REFERRAL_API_TOKEN``).

``POST /api/referrals``: a referee signed up with a code: 201 when it counts, 202 when it is held
for a person's review (a throwaway address, a code used far more than usual), 404 for an unknown
code, 409 for a referee referred before, 422 for a self-referral or a malformed body.
``POST /api/conversions``: a referee became a customer: 201 the first time, 200 with what was
recorded when the same conversion comes again, 404 when nobody signed up, 409 when it cannot be
told which referee or the referral was rejected.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response, status

from referral_automation.domain.statuses import ReferralStatus
from referral_automation.services.referrals.conversions import record_conversion
from referral_automation.services.referrals.inputs import ConversionIn, SignupIn
from referral_automation.services.referrals.signups import record_signup
from referral_automation.web.deps import Context, require_api_token

router = APIRouter(prefix="/api", tags=["referral API"], dependencies=[Depends(require_api_token)])
SOURCE = "api"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token"},
    404: {"description": "Nothing has this code or address"},
    409: {"description": "Contradicts what is recorded"},
    413: {"description": "Body too large"},
}


@router.post("/referrals", status_code=status.HTTP_201_CREATED, summary="A referee signed up", responses=_ERRORS)
async def post_referral(signup: SignupIn, response: Response, context: Context) -> dict[str, Any]:
    result = await context.write(record_signup, context.sessions, signup, now=context.now(), source=SOURCE)
    if result.status is ReferralStatus.HELD:
        response.status_code = status.HTTP_202_ACCEPTED
    return result.as_json()


@router.post("/conversions", status_code=status.HTTP_201_CREATED, summary="A referee converted", responses=_ERRORS)
async def post_conversion(conversion: ConversionIn, response: Response, context: Context) -> dict[str, Any]:
    result = await context.write(
        record_conversion,
        context.sessions,
        conversion,
        config=context.config,
        now=context.now(),
        policy=context.ledger_policy,
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result.as_json()
