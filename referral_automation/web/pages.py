"""The few pages a person sees in a browser (unsubscribing): small, self-contained, every value escaped.

They load nothing from elsewhere and run no script (``Content-Security-Policy`` says so), so a page
is readable in any client, and nothing a customer's data holds can become markup.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}
button{{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def page(title: str, body_html: str, *, status_code: int = 200) -> HTMLResponse:
    """A page; ``body_html`` must be built from ``escape``d values (the callers below do)."""
    html = _PAGE.format(title=escape(title), body=body_html)
    return HTMLResponse(html, status_code=status_code, headers={"Content-Security-Policy": CSP})


def unsubscribe_form(masked_email: str, action: str) -> HTMLResponse:
    body = (
        f"<p>Stop all referral emails to <strong>{escape(masked_email)}</strong>?</p>"
        f'<form method="post" action="{escape(action, quote=True)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return page("Unsubscribe", body)


def unsubscribed(masked_email: str) -> HTMLResponse:
    body = f"<p><strong>{escape(masked_email)}</strong> will get no more referral emails from us.</p>"
    return page("You are unsubscribed", body)


def invalid_link() -> HTMLResponse:
    body = "<p>This unsubscribe link is not valid. Please use the link in the email exactly as it is.</p>"
    return page("Link not valid", body, status_code=404)
