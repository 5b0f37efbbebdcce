"""Inspection: read-only views for operators (referral requests and the decisions on them)."""
