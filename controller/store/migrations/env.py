"""Alembic environment for the Outpost store.

Run programmatically by ``Store.migrate()``, which passes an open Connection in
``config.attributes["connection"]``. For ad-hoc use (``alembic -x url=... upgrade head`` with a
config whose script_location points here) a URL may be given with ``-x url=`` or ``sqlalchemy.url``.
Migrations create their tables explicitly; they never import the store's MetaData.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from controller.store.errors import StoreError

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=None, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise StoreError("no connection in config.attributes and no sqlalchemy.url / -x url=")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
