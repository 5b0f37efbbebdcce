"""Prefect flows: orchestration only (batches, retries, artifacts) around ``referral_automation.services``.

Installed as ``referral_automation.flows`` (pyproject maps this folder there), so no other
project's ``flows`` can shadow it or be shadowed by it; modules here import each other relatively,
which also serves ``prefect.yaml``'s file entrypoints (``flows/detect.py:detect_flow``). Each flow
reads the environment's settings (``build_pipeline``), as a deployment's worker does; the CLI
runs one through ``referral_automation.cli.flow_runner``.
"""
