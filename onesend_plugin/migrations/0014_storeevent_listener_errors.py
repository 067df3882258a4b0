from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("onesend", "0013_account_collection"),
    ]

    operations = [
        migrations.AddField(
            model_name="storeevent",
            name="listener_errors",
            field=models.TextField(blank=True),
        ),
    ]
