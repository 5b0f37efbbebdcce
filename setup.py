"""Which packages the distribution holds; everything else is in pyproject.toml.

The flows keep their folder (``prefect.yaml``'s entrypoints name ``flows/<file>.py``) but are
installed inside the package, as ``referral_automation.flows``, where no other project's top-level
``flows`` can shadow them or be shadowed by them. pyproject.toml cannot say both "find the
packages" and "this one lives elsewhere", so it is said here.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["referral_automation", "referral_automation.*"]), "referral_automation.flows"],
    package_dir={"referral_automation.flows": "flows"},
)
