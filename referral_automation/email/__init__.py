"""Email adapter: ``compose`` turns a request into an ``OutgoingEmail`` through ``rendering`` (the
Jinja sandbox and its fast paths), and ``senders`` hand it to the world behind the ``EmailSender``
protocol (``message``)."""
