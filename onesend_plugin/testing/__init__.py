"""A test kit for onesend plugin authors: a pytest plugin (``pytest_plugin``, loaded by pytest
through the ``onesend`` ``pytest11`` entry point) and a settings module (``settings``) a plugin
package's test suite can use as its ``DJANGO_SETTINGS_MODULE``.

The fixtures run a plugin's hooks in a real broadcast against the Graph API simulator
(``onesend-simulator``), so a plugin is tested the way a site runs it. See docs/plugins.md,
"Testing your plugin", and the example package in examples/onesend-example-plugin/.
"""
