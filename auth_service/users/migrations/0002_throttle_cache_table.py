"""The login/registration throttle counters live in a database cache table (auth_service/config/throttling.py),
so the table is created with the schema, wherever migrations run. Idempotent; a no-op for other caches."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
