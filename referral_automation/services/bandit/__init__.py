"""The multi-armed test of message variants × incentives as a capability.

``simulator`` runs the domain's real selection code (``referral_automation.domain.bandit``) in a
synthetic world, day by day, for the ``simulate`` command and the benchmark. The store that feeds
refreshes from recorded sends and outcomes belongs beside it.
"""
