"""An example onesend plugin package: three plugins, each an entry point of the ``onesend``
group (see pyproject.toml), tested with onesend's test kit (tests/)."""
