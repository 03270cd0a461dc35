"""Storage: database models, sessions, migrations, raw-mail and attachment store."""
