"""Erase one person (a PSID on one Page) from the command line, as the admin's GDPR erase does:
for a request that reaches the operator rather than the client, or a script."""

from django.core.management.base import BaseCommand, CommandError

from onesend_plugin.models import MessengerPage, Subscriber
from onesend_plugin.subscribe import erasure


class Command(BaseCommand):
    help = "Erase everything onesend holds about one person: the Facebook Page id and their PSID."

    def add_arguments(self, parser):
        parser.add_argument("page_id", help="The Facebook Page id of a connected Messenger Page.")
        parser.add_argument("psid", help="The person's page-scoped id (PSID) on that Page.")

    def handle(self, *args, page_id: str, psid: str, **options):
        page = MessengerPage.objects.filter(page_id=page_id).first()
        if page is None:
            raise CommandError(f"No Messenger Page has the Facebook Page id {page_id!r}.")
        subscriber = Subscriber.objects.filter(page=page, psid=psid).first()
        if subscriber is None:
            raise CommandError(f"Page {page_id} ({page}) has no subscriber with PSID {psid!r}.")
        pk = subscriber.pk
        record = erasure.erase(subscriber, by="command onesend_erase")
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased subscriber {pk} of Page {page_id} ({page}); consent record {record.pk} says so."
            )
        )
