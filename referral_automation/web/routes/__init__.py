"""One router per area: SendGrid's webhooks, referral links, unsubscribe links, the referral API, health."""
