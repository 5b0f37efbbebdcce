"""referral-automation: ask happy customers for referrals at the right moment.

The engine is importable and testable without Prefect: ``domain`` is pure, ``services`` own
transactions, ``db`` and ``email`` are adapters. Prefect flows live in the top-level ``flows`` package.
"""

__version__ = "0.1.0"
