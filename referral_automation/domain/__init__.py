"""Pure domain logic: no Session, no network, no clock. Time and randomness come in as arguments."""
