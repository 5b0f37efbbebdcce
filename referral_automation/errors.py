"""One exception tree for the whole engine.

::

    ReferralAutomationError
    ├── ConfigError              bad YAML, bad rules, bad campaigns (carries ``Problem`` lines)
    ├── SettingsError            a setting (environment, ``.env`` or option) that cannot be used
    ├── DatabaseError            the database cannot be reached or used: URL, driver, server, role, schema
    ├── InputError               bad input files (customers, events) that abort a whole command
    ├── TemplateError            a template that does not compile or render
    ├── NotFoundError | ConflictError | RefusedError   input that names nothing, contradicts what is
    │                            recorded, or breaks a rule (the web's 404, 409 and 422)
    └── DeliveryError            a message could not be handed to the provider
        ├── RetryableDeliveryError   try again later (429, 5xx, connection refused)
        ├── PermanentDeliveryError   never retry (4xx): the request is ``failed``
        ├── AmbiguousDeliveryError   the provider may have accepted it: reconcile, do not retry
        └── SenderSetupError         no request could even be built (a malformed API host or key):
                                     nothing was sent; the batch gives its messages back and fails

Only flows and the CLI catch broadly, per batch, and record what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a user's file, printed as ``path:line: message``.

    A ``"warning"`` (``path:line: warning: message``) is worth a look but stops nothing: the
    command's exit code stays what the errors make it.
    """

    path: str
    line: int | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        label = "warning: " if self.severity == "warning" else ""
        return f"{where}: {label}{self.message}"


class ReferralAutomationError(Exception):
    """Base of every error the engine raises on purpose."""


class ProblemsError(ReferralAutomationError):
    """An error made of one or more ``Problem`` lines."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(ProblemsError):
    """Configuration (YAML) that cannot be used."""


class InputError(ProblemsError):
    """An input file that cannot be read at all."""


class TemplateError(ProblemsError):
    """A template that does not compile or render."""


class SettingsError(ReferralAutomationError):
    """Settings that cannot be used, one message per setting, each naming the variable or option."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = list(messages)
        super().__init__("; ".join(self.messages))


class DatabaseError(ReferralAutomationError):
    """The database cannot be reached or used: ``what`` went wrong and ``hint``, what to do about it."""

    def __init__(self, what: str, hint: str) -> None:
        self.what = what
        self.hint = hint
        super().__init__(f"{what}: {hint}")


class DeliveryError(ReferralAutomationError):
    """A message could not be handed to the email provider."""


class RetryableDeliveryError(DeliveryError):
    """Nothing was accepted; sending again later is safe."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The provider refused the message for good (a 4xx): never retry it."""


class AmbiguousDeliveryError(DeliveryError):
    """The request reached the provider but no answer came back: it may have been accepted."""


class SenderSetupError(DeliveryError):
    """The sender cannot build a request as it is set up (a host urllib cannot parse, a key that
    cannot go into a header): nothing reached the network. Not the message's fault and not worth
    retrying until the setting is fixed, so the batch gives its messages back untouched (no attempt
    counted) and fails, and the run says what to fix."""


class NotFoundError(ReferralAutomationError):
    """What the input names does not exist (an unknown referral code): the web answers 404."""


class ConflictError(ReferralAutomationError):
    """The input contradicts what is recorded (the same referee twice): the web answers 409."""


class RefusedError(ReferralAutomationError):
    """Well-formed input the rules refuse (a self-referral): the web answers 422."""
