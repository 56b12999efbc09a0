"""The database: an embedded or external PostgreSQL, a connection pool, migrations."""

from zhifu.db.database import Database, is_retryable

__all__ = ["Database", "is_retryable"]
