"""``python -m referral_automation`` is the same as the ``referral-automation`` console script."""

from referral_automation.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports it
    main()
