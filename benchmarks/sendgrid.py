"""SendGrid sending throughput against a local fake SendGrid answering after 100 ms.

    .venv/bin/python benchmarks/sendgrid.py [--messages 2000] [--latency 0.1]

Each row sends N messages through ``SendGridSender.send_many`` (real sendgrid client, real HTTP on
loopback) with a given pool size and the rate limit off (set high), then one row with the shipped
``config/delivery.yaml``. The fake runs in its own process so the sender does not share its GIL.
Target (the issue): at least 200 messages/s with 100 ms latency. Every message must be accepted
exactly once; the table says so.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This file is named like the ``sendgrid`` package: keep its folder off the path so the library imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from referral_automation.config import SendGridDelivery, load_config  # noqa: E402
from referral_automation.domain.identity import message_id  # noqa: E402
from referral_automation.email.message import OutgoingEmail, SendResult  # noqa: E402
from referral_automation.email.senders.sendgrid import SendGridSender  # noqa: E402
from referral_automation.email.senders.sendgrid_fake import FakeSendGrid  # noqa: E402

TARGET = 200.0


def serve(latency: float, pipe: Connection) -> None:
    """The fake in a child process: report its URL, then the accepted counts when asked."""
    with FakeSendGrid(latency=latency) as fake:
        pipe.send(fake.url)
        while True:
            command = pipe.recv()
            if command == "stop":
                return
            counts = dict(fake.accepted)
            fake.accepted.clear()
            pipe.send(counts)


def emails(run: int, count: int) -> list[OutgoingEmail]:
    paragraph = "<p>Thanks for being a customer. Would you introduce a colleague?</p>"
    html = f"<html><body>{paragraph * 20}</body></html>"
    result = []
    for i in range(count):
        request = f"bench-{run}-{i:05d}"
        result.append(
            OutgoingEmail(
                message_id=message_id(request, 0), referral_request_id=request, sequence_step=0,
                campaign="customer_referral", variant="gratitude", incentive="give50_get50",
                to_email=f"customer{i}@example.com", to_name="Customer", from_email="referrals@example.com",
                from_name="Acme", reply_to_email=None, reply_to_name=None, subject="A favour?", html=html,
                text="Thanks for being a customer. Would you introduce a colleague?" * 10,
                headers={"List-Unsubscribe": "<https://example.com/u/x>",
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            )
        )  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[8, 16, 32, 64])
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(args.latency, child), daemon=True)
    server.start()
    url = parent.recv()
    shipped = load_config(ROOT / "config").delivery.sendgrid
    settings = [(c, SendGridDelivery(concurrency=c, rate_limit_per_second=10000)) for c in args.concurrency]
    settings.append((shipped.concurrency, shipped))

    table = Table(title=f"SendGrid send_many: {args.messages} messages, fake latency {args.latency * 1000:.0f} ms")
    for column in ("pool", "rate limit/s", "seconds", "messages/s", "accepted once", "target ≥ 200/s"):
        table.add_column(column, justify="right")
    for run, (concurrency, config) in enumerate(settings):
        sender = SendGridSender(SecretStr("SG.benchmark.key"), host=url, config=config)
        batch = emails(run, args.messages)
        started = time.perf_counter()
        outcomes = sender.send_many(batch)
        elapsed = time.perf_counter() - started
        parent.send("counts")
        counts: dict[tuple[str, int], int] = parent.recv()
        ok = sum(isinstance(o, SendResult) for o in outcomes)
        once = ok == args.messages and len(counts) == args.messages and set(counts.values()) == {1}
        rate = args.messages / elapsed
        label = "shipped" if run == len(settings) - 1 else ""
        table.add_row(
            f"{concurrency} {label}".strip(),
            f"{config.rate_limit_per_second:g}",
            f"{elapsed:.2f}",
            f"{rate:.0f}",
            "yes" if once else f"NO ({ok} ok)",
            "met" if rate >= TARGET else "missed",
        )
    parent.send("stop")
    server.join(timeout=5)
    Console().print(table)


if __name__ == "__main__":
    main()
