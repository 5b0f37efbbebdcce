"""``GET /r/{code}``: a referral link. The click is recorded, and the browser goes on (302) to the
campaign's landing page with ``?ref={code}``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import RedirectResponse

from referral_automation.domain.tokens import is_referral_code
from referral_automation.services.responses.clicks import Click
from referral_automation.web.deps import Context

router = APIRouter(tags=["links"])


@router.get(
    "/r/{code}",
    summary="Follow a referral link",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={400: {"description": "Not a referral code"}, 404: {"description": "No such referral code"}},
)
async def follow_referral_link(code: str, request: Request, context: Context) -> RedirectResponse:
    """Records the click (a keyed hash of the IP, never the address) and redirects to the landing page."""
    if not is_referral_code(code):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a referral code (8-64 of A-Z a-z 0-9 _ -)")
    click = Click(
        code=code,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        at=context.now(),
    )
    campaign = await context.record_click(click)
    if campaign is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no referral has this code")
    target = context.landing_url(campaign, code)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"campaign {campaign!r} is no longer configured")
    return RedirectResponse(target, status_code=status.HTTP_302_FOUND)
