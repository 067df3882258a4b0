"""The paid channel's part of ``bench/broadcast.py --channel paid``: Pages on Meta's paid
Marketing Messages API, the site's webhook endpoint for their ``marketing_message_*`` receipts,
and the receipts phase.

The send is measured as the legacy run's is: the simulator holds the receipts' webhooks
(``webhooks_paused``) while the campaigns send, so the cluster does nothing else and CPU per
message means the same. Once every campaign is finished, the simulator lets them go (echoes and
deliveries, up to 50 events per POST, as Meta batches a backlog) to Django's own server, the
cluster's drain applies them, and the counts are compared: the simulator's delivered messages, the
ledger's delivered rows, the campaigns' ``delivered`` counters and the distinct delivery events
must all equal the messages sent."""

from __future__ import annotations

import subprocess
import sys
import time

from benchlib import REPO, Tracker, descendants, free_port, listening, wait_until

#: Campaign webhooks per POST once the simulator lets the held ones go, and POSTs in flight.
WEBHOOK_BATCH, WEBHOOK_CONCURRENCY = 50, 2


def start_web(env: dict) -> tuple[subprocess.Popen, str]:
    """Django's server with the benchmark's settings and database, for the webhooks."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError("the web server exited")
        return listening(port)

    wait_until(up, 60, "the web server to start")
    return process, f"http://127.0.0.1:{port}"


def page_fields(page_id: str) -> dict:
    """A benchmark Page's fields on the paid channel: its ad account."""
    from onesend_plugin.models import Channel

    return {"channel": Channel.MARKETING_API, "ad_account_id": f"act_{page_id}"}


def connect_ad_account(remote, page) -> None:
    """The Page's ad account and the business token Facebook Login for Business gives, stored on
    the Page: every paid call is made with it (``meta.paid_client_for``)."""
    from onesend_plugin.models import MessengerPage, PaidLoginFlow

    account_id = page.ad_account_id.removeprefix("act_")
    remote.create_ad_account(account_id=account_id, name=f"{page.name} ads")
    issued = remote.create_business_token(
        flow="business", app_id=page.app.app_id, page_ids=[page.page_id], ad_account_ids=[account_id]
    )
    MessengerPage.objects.filter(pk=page.pk).update(
        paid_access_token=issued["token"], paid_token_flow=PaidLoginFlow.BUSINESS
    )
    page.paid_access_token = issued["token"]


def simulator_page_fields(app) -> dict:
    """The Page in the simulator: its app (named in the receipts) subscribed to the paid fields."""
    from onesend_plugin.messenger.events import PAID_KINDS

    return {"app_id": app.app_id, "subscribed_fields": list(PAID_KINDS)}


def hold_receipts(remote, web_url: str, app) -> None:
    """Campaigns ready at once (no warm-up) and their receipts held until ``receipts_phase``."""
    remote.configure(
        webhook_url=f"{web_url}/onesend/webhook/{app.app_id}/",
        app_secret=app.app_secret,
        webhooks_paused=True,
        campaign_warmup_seconds=0,
        batch_max=WEBHOOK_BATCH,
        webhook_concurrency=WEBHOOK_CONCURRENCY,
    )


def naive_send(client, page):
    """The naive baseline's one call per subscriber on the paid API: ``send(token, message)``."""
    meta_id = client.create_marketing_campaign(
        ad_account_id=page.ad_account_id, name="Naive", page_id=page.page_id
    )

    def send(token: str, message: dict):
        return client.send_marketing_message(
            ad_account_id=page.ad_account_id, message_id=meta_id, subscription_token=token, message=message
        )

    return send


def receipts_phase(remote, campaigns, pids: list[int], timeout: float) -> dict:
    """Let the held webhooks go, wait until every one is answered and applied, then count. CPU
    is that of ``pids`` (the cluster and the web server) and their children."""
    from onesend_plugin.models import WebhookDelivery, WebhookEvent

    tracker = Tracker()
    tracker.mark([p for pid in pids for p in descendants(pid)])
    emitted = remote.stats()["webhooks"]["emitted"]
    started = time.monotonic()
    remote.configure(webhooks_paused=False)

    def applied() -> bool:
        tracker.sample([p for pid in pids for p in descendants(pid)])
        return (
            remote.pending_webhooks()["pending"] == 0
            and not WebhookDelivery.objects.filter(state__in=("received", "retry")).exists()
            and not WebhookEvent.objects.filter(state__in=("pending", "retry")).exists()
        )

    wait_until(applied, timeout, "the receipts to be applied")
    elapsed = time.monotonic() - started
    counts = receipt_counts(remote, campaigns)
    return {
        **counts,
        "webhook_events": emitted,
        "receipts_s": elapsed,
        "events_per_s": emitted / max(elapsed, 1e-6),
        "cpu_ms_per_event": 1000 * tracker.cpu() / max(emitted, 1),
    }


def receipt_counts(remote, campaigns) -> dict:
    """Delivered messages four ways, and whether they agree with what was sent."""
    from onesend_plugin import analytics
    from onesend_plugin.models import Delivery, WebhookDelivery, WebhookEvent

    rows = Delivery.objects.filter(campaign__in=campaigns)
    counts = {
        "sent_rows": rows.filter(state=Delivery.State.SENT).count(),
        "sim_delivered": sum(
            m.get("status") in ("delivered", "read")
            for c in campaigns
            for m in remote.messages(c.page.page_id)
        ),
        "ledger_delivered": rows.filter(delivered_at__isnull=False).count(),
        "counter_delivered": sum(analytics.stats(c).get("delivered", 0) for c in campaigns),
        "delivery_events": WebhookEvent.objects.filter(kind="paid_delivery").count(),
        "unprocessed_posts": WebhookDelivery.objects.exclude(state="processed").count(),
        "unprocessed_events": WebhookEvent.objects.exclude(state="processed").count(),
    }
    delivered = [
        counts[k] for k in ("sim_delivered", "ledger_delivered", "counter_delivered", "delivery_events")
    ]
    counts["exact"] = (
        set(delivered) == {counts["sent_rows"]}
        and not counts["unprocessed_posts"]
        and not counts["unprocessed_events"]
    )
    return counts


def report_line(number: int, receipts: dict) -> str:
    """The receipts' line of the report for run ``number``."""
    return (
        f"Receipts, run {number} ({receipts['webhook_events']:,} `marketing_message_*` webhooks, echoes and deliveries, "
        f"held during the send and then let go, {WEBHOOK_BATCH} per POST): applied in "
        f"{receipts['receipts_s']:.1f} s ({receipts['events_per_s']:,.0f} events/s, cluster + web server CPU "
        f"{receipts['cpu_ms_per_event']:.2f} ms/event); delivered: simulator {receipts['sim_delivered']:,}, "
        f"ledger {receipts['ledger_delivered']:,}, counter {receipts['counter_delivered']:,}, distinct events "
        f"{receipts['delivery_events']:,}, for {receipts['sent_rows']:,} sent: "
        f"**{'exact' if receipts['exact'] else 'NOT EXACT'}**."
    )
