"""Re-run webhook deliveries and events that failed, were left pending, or arrived before their
Page was connected, and store events that failed or were left pending. Raw deliveries and store
events are kept, so nothing Meta or the shop sent is lost to a bug or an outage."""

from django.core.management.base import BaseCommand

from onesend_plugin import store
from onesend_plugin.inbox import dispatch
from onesend_plugin.models import MessengerPage, WebhookDelivery, WebhookEvent


class Command(BaseCommand):
    help = (
        "Reprocess failed webhook deliveries and events (also those waiting for a retry), pending "
        "and unknown-Page webhook events, and failed or pending store events."
    )

    def handle(self, *args, **options):
        State = WebhookEvent.State
        unknown = WebhookEvent.objects.filter(state=State.UNKNOWN_PAGE)
        for page in MessengerPage.objects.filter(page_id__in=unknown.values("page_external_id")):
            # only events signed by the Page's own app
            unknown.filter(page_external_id=page.page_id, delivery__app=page.app_id).update(
                page=page, state=State.PENDING, error=""
            )
        WebhookEvent.objects.filter(state__in=[State.FAILED, State.RETRY]).update(
            state=State.PENDING, error="", attempts=0, next_attempt_at=None
        )
        WebhookDelivery.objects.filter(
            state__in=[WebhookDelivery.State.FAILED, WebhookDelivery.State.RETRY]
        ).update(state=WebhookDelivery.State.RECEIVED, attempts=0, next_attempt_at=None)
        done = 0
        while claimed := dispatch.process_pending():
            done += claimed
        self.stdout.write(self.style.SUCCESS(f"Processed {done} event(s)."))
        processed, total = store.reprocess()
        self.stdout.write(self.style.SUCCESS(f"Processed {processed} of {total} store event(s)."))
