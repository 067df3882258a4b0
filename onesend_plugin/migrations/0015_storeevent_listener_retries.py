from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("onesend", "0014_storeevent_listener_errors"),
    ]

    operations = [
        migrations.AddField(
            model_name="storeevent",
            name="listeners_retry",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="storeevent",
            name="listener_attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="storeevent",
            name="listeners_next_attempt_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
    ]
