"""The web app (``referral-automation web``): SendGrid's webhooks, referral links, unsubscribe
links and the referral API, each a router under ``routes/``. ``create_app`` builds it; the
command line serves it with uvicorn."""

from referral_automation.web.app import create_app

__all__ = ["create_app"]
