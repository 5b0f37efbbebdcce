"""Reference implementations: the plain way of doing what a fast path in the package does.

Each is written for clarity, not speed, and only tests use them: a fast path's test holds it to
the same results as its reference here, on hostile and random inputs.
"""
