"""DynamoDB steps: the mirror's tables, created on demand; a key never changes."""

from __future__ import annotations

from diep_portal.aws.dynamodb import KeySchema, dynamodb_ensure_table, dynamodb_table_key
from diep_portal.aws.provision.errors import ProvisionError
from diep_portal.aws.provision.resources import Change, Table
from diep_portal.aws.provision.steps import Step, noop


def table_step(table: Table) -> Step:
    """A table with the expected key; a different key is refused, not replaced."""
    current = dynamodb_table_key(table=table.name)
    wanted = _key_text(table.key)
    if current is None:
        return Step(
            Change("table", table.name, "create", f"on demand, key {wanted}"),
            lambda: _create_table(table),
        )
    if current != table.key:
        raise ProvisionError(
            f"DynamoDB table {table.name!r} has key {_key_text(current)}, DIEP needs "
            f"{wanted}; a key cannot change: drop the table or configure another name."
        )
    return Step(Change("table", table.name, "unchanged", f"key {wanted}"), noop)


def _create_table(table: Table) -> None:
    """Create the table (on demand) and wait until it exists."""
    dynamodb_ensure_table(table=table.name, key=table.key)


def _key_text(key: KeySchema) -> str:
    """A key schema for humans."""
    return key.partition_key + (f" + {key.sort_key}" if key.sort_key else "")
