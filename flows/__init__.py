"""Prefect flows: orchestration only (batches, retries, artifacts) around ``referral_automation.services``.

Each flow reads the environment's settings (``referral_automation.settings.load_settings``) and the
YAML config, as a deployment's worker does; ``flows.runtime`` runs one from the command line.
"""
