"""``python -m referral_automation`` is the same as the ``referral-automation`` console script."""

from referral_automation.cli import main

main()
