"""Detection: journey events in, moments of truth and referral requests out (``detect``), with its
own SQL (``store``); the decisions themselves are the rule book's (``domain.rulebook``)."""
