"""Each account gets its own Wagtail collection for its images and documents.

Historical models have no treebeard methods, so the collections are added under the root by
hand, the way treebeard's materialised path does it: a child's path is its parent's plus the
next 4-character base-36 step, and the parent counts its children in ``numchild``.
"""

import django.db.models.deletion
from django.db import migrations, models

STEP = 4
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def next_step(step: str) -> str:
    """The base-36 step after ``step`` ("0001" → "0002", "000Z" → "0010")."""
    value = int(step, 36) + 1
    digits = ""
    while value:
        value, digit = divmod(value, 36)
        digits = ALPHABET[digit] + digits
    return digits.rjust(STEP, "0")


def create_collections(apps, schema_editor):
    Account = apps.get_model("onesend", "Account")
    Collection = apps.get_model("wagtailcore", "Collection")
    accounts = list(Account.objects.filter(collection__isnull=True).order_by("pk"))
    if not accounts:
        return
    root = Collection.objects.get(depth=1)
    last = (
        Collection.objects.filter(depth=2, path__startswith=root.path).order_by("-path").first()
    )
    step = last.path[-STEP:] if last else "0" * STEP
    for account in accounts:
        step = next_step(step)
        account.collection = Collection.objects.create(
            name=account.name, path=root.path + step, depth=2, numchild=0
        )
        account.save(update_fields=["collection"])
    Collection.objects.filter(pk=root.pk).update(numchild=models.F("numchild") + len(accounts))


class Migration(migrations.Migration):
    dependencies = [
        ("onesend", "0012_webhook_event_retries"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="collection",
            field=models.OneToOneField(
                editable=False,
                help_text="The client's images and documents: its users see and choose only these.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="onesend_account",
                to="wagtailcore.collection",
            ),
        ),
        migrations.RunPython(create_collections, migrations.RunPython.noop),
    ]
