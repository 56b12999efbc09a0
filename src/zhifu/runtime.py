"""Wiring: the database (embedded or external), migrations, and the services on top."""
