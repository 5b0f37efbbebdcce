"""Sending: the first ask and the follow-ups, each a series of claim-send-record batches.

``claims`` leases due work, ``deliver`` runs the message-row-first protocol around the sender,
``step`` is one batch of either kind, ``batches`` the loop and the counts, ``first_asks`` and
``follow_ups`` the two kinds, ``composer`` renders a job, and ``store`` holds the SQL of it all.
"""
