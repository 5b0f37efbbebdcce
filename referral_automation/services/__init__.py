"""Use cases. Each owns its transaction (``with session.begin():``) and works in batches."""
