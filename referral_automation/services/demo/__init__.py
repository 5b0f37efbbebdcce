"""The demo: a sample workspace (seeded customers and journey events), the whole pipeline over
simulated weeks, simulated responses, and a summary of what happened (``run``, ``data``, ``summary``)."""
