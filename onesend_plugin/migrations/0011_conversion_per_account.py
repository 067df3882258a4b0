"""Conversions belong to an account, and order ids are unique per account (two shops may both
have an order 1001). Existing rows keep their data; each gets the account of the store event
that reported its order (the first one, as the old global uniqueness kept the first), else of
its campaign, else of its subscriber. A row none of these lead to belongs to a deleted account,
whose other data is already gone: it is deleted with it."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTextTransform


def backfill_accounts(apps, schema_editor):
    Conversion = apps.get_model("onesend", "Conversion")
    StoreEvent = apps.get_model("onesend", "StoreEvent")
    Campaign = apps.get_model("onesend", "Campaign")
    Subscriber = apps.get_model("onesend", "Subscriber")
    reported = (
        StoreEvent.objects.filter(name="order_placed")
        .annotate(reported_order_id=KeyTextTransform("order_id", "properties"))
        .filter(Q(reported_order_id=OuterRef("order_id")) | Q(idempotency_key=OuterRef("order_id")))
        .order_by("received_at", "pk")
        .values("account_id")[:1]
    )
    sources = [
        reported,
        Campaign.objects.filter(pk=OuterRef("campaign_id")).values("page__account_id")[:1],
        Subscriber.objects.filter(pk=OuterRef("subscriber_id")).values("page__account_id")[:1],
    ]
    for source in sources:
        Conversion.objects.filter(account__isnull=True).update(account_id=Subquery(source))
    Conversion.objects.filter(account__isnull=True).delete()


class Migration(migrations.Migration):
    # PostgreSQL can't alter a table in the transaction that updated its foreign keys: each
    # step commits on its own (the backfill in one transaction).
    atomic = False
    dependencies = [
        ("onesend", "0010_webhook_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversion",
            name="account",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="conversions",
                to="onesend.account",
            ),
        ),
        migrations.RunPython(backfill_accounts, migrations.RunPython.noop, atomic=True),
        migrations.AlterField(
            model_name="conversion",
            name="account",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="conversions",
                to="onesend.account",
            ),
        ),
        migrations.AlterField(
            model_name="conversion",
            name="order_id",
            field=models.CharField(max_length=255),
        ),
        migrations.AddConstraint(
            model_name="conversion",
            constraint=models.UniqueConstraint(fields=("account", "order_id"), name="onesend_conversion_once"),
        ),
    ]
