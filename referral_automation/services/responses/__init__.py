"""Responses: what customers (or providers on their behalf) did after a message, recorded once each
with their side effects (``record``), and SendGrid's Event Webhook events mapped to them
(``provider_events``)."""
