"""Responses: what customers (or providers on their behalf) did after a message, recorded once each
with their side effects (``record``), and every way they come in: SendGrid's Event Webhook events
(``provider_events``), replies through Inbound Parse (``inbound``), referral-link clicks (``clicks``)
and unsubscribe links (``unsubscribe``)."""
