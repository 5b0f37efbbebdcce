"""Links and addresses that come back to us signed: the key they are signed with (``keys``), and
what the send flow puts into each email with it (``signer``): the unsubscribe token, the
per-request reply address."""
