"""``onesend-simulator``: run the Graph API simulator as a real HTTP server."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from .app import build_app
from .config import Config
from .errors import ControlError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="onesend-simulator", description=__doc__)
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8765)
    add("--webhook-url", help="where webhooks are POSTed (the app's Messenger webhook view)")
    add("--app-secret", default=defaults.app_secret, help="signs webhooks (X-Hub-Signature-256)")
    add("--verify-token", default=defaults.verify_token, help="sent in the hub.challenge GET")
    add(
        "--verify-webhook",
        action="store_true",
        help="run the hub.challenge GET against --webhook-url at start",
    )
    add("--latency-ms", type=float, default=0.0, help="added to every Graph API call")
    add("--failure-rate", type=float, default=0.0, help="probability of a transient error (code 2, HTTP 503)")
    add(
        "--cooldown-hours",
        type=float,
        default=defaults.cooldown_seconds / 3600,
        help="one marketing message per person per this (Meta: 48 since 2025-09-01)",
    )
    add("--text-rate", type=int, default=defaults.text_rate, help="text sends per Page per rolling second")
    add("--media-rate", type=int, default=defaults.media_rate, help="media sends per Page per rolling second")
    add("--no-receipts", action="store_true", help="no delivery/read webhooks (benchmarks)")
    add(
        "--read-probability", type=float, default=0.0, help="chance a delivered message is read automatically"
    )
    add("--read-delay-ms", type=float, default=defaults.read_delay_ms, help="delay of those automatic reads")
    add("--mids-omit-rate", type=float, default=0.0, help="chance a delivery webhook has no mids")
    add("--duplicate-rate", type=float, default=0.0, help="chance a delivered webhook POST is sent again")
    add("--reorder", action="store_true", help="send queued webhook events in random order")
    add("--batch-max", type=int, default=1, help="events per webhook POST when a backlog builds up")
    add("--delay-ms", type=float, default=0.0, help="delay before each webhook event is sent")
    add(
        "--retry-interval",
        type=float,
        default=defaults.retry_interval,
        help="seconds between webhook retries",
    )
    add("--webhook-timeout", type=float, default=defaults.webhook_timeout, help="seconds before a POST fails")
    add("--webhook-concurrency", type=int, default=1, help="webhook POSTs in flight at once (1 keeps order)")
    add("--state-file", type=Path, help="JSON file loaded at start and saved at shutdown")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    config = Config()
    config.update(
        {
            "webhook_url": args.webhook_url,
            "app_secret": args.app_secret,
            "verify_token": args.verify_token,
            "latency_ms": args.latency_ms,
            "failure_rate": args.failure_rate,
            "cooldown_hours": args.cooldown_hours,
            "text_rate": args.text_rate,
            "media_rate": args.media_rate,
            "receipts": not args.no_receipts,
            "read_probability": args.read_probability,
            "read_delay_ms": args.read_delay_ms,
            "mids_omit_rate": args.mids_omit_rate,
            "duplicate_rate": args.duplicate_rate,
            "reorder": args.reorder,
            "batch_max": args.batch_max,
            "delay_ms": args.delay_ms,
            "retry_interval": args.retry_interval,
            "webhook_timeout": args.webhook_timeout,
            "webhook_concurrency": args.webhook_concurrency,
        }
    )
    return config


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        config = config_from(args)
    except ControlError as error:
        raise SystemExit(f"onesend-simulator: {error}") from None
    app = build_app(config, args.state_file, args.verify_webhook)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = f"http://{args.host}:{args.port}"
    print(f"onesend simulator: Graph API {base}/v25.0/  control {base}/_sim/  m.me {base}/m.me/", flush=True)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
