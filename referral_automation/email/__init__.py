"""Email adapter: rendering (Jinja sandbox) and senders behind the ``EmailSender`` protocol."""
