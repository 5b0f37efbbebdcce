"""Referrals: referees who sign up with an advocate's code (``signups``), the ones a person must
look at first (``review``), referees who become customers (``conversions``) and what both sides
earn for it (``ledger``). The referral API, ``responses record`` and the demo all come through here.

Every sign-up and conversion that counts is also a response on the advocate's request (kinds
``referral`` and ``conversion``), recorded in the same transaction as its rows: the bandit and the
report read outcomes from responses alone.
"""
