"""Setting overrides in a DynamoDB table (the AWS adapter of :class:`SettingsRepo`).

As in QnABot 7, the table has one row per setting, keyed by ``SettingName``, with
``SettingValue`` (the admin's override, absent when the default applies), ``DefaultValue`` and
``SettingCategory``. :meth:`DynamoDbSettingsRepo.seed_defaults` writes a row for every setting
in the registry (run at deploy time) so admins browsing the table see every name; it never
touches an override. Reads are strongly consistent, so a change applies on the next turn.

Example:
    >>> repo = DynamoDbSettingsRepo("qnabot-settings")  # doctest: +SKIP
    >>> repo.save({"EMPTYMESSAGE": "Sorry!"})  # doctest: +SKIP
    >>> repo.overrides()  # doctest: +SKIP
    {'EMPTYMESSAGE': 'Sorry!'}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from knowledge.settings import REGISTRY, Settings, SettingsRepo, SettingsUnavailableError

NAME, VALUE, DEFAULT, CATEGORY = "SettingName", "SettingValue", "DefaultValue", "SettingCategory"
_TRANSACTION_LIMIT = 100


class SettingsTableError(SettingsUnavailableError):
    """The settings table cannot be read or written; the message names the table and the fix."""


class DynamoDbSettingsRepo(SettingsRepo):
    """Overrides in the DynamoDB table ``table_name`` (hash key ``SettingName``, a string)."""

    def __init__(self, table_name: str, client: Any = None):
        self.table_name = table_name
        self.client = client or boto3.client("dynamodb")

    def overrides(self) -> dict[str, str]:
        """Every setting that has a ``SettingValue``, name -> stored string."""
        return {row[NAME]["S"]: row[VALUE]["S"] for row in self._scan() if VALUE in row}

    def load(self) -> Settings:
        """A snapshot of the current settings."""
        return Settings.from_overrides(self.overrides())

    def save(self, values: Mapping[str, str]) -> None:
        """Set these overrides (already validated), keeping the others, 100 per transaction."""
        updates = [self._update(name, {VALUE: value}, set_default=True)
                   for name, value in values.items()]
        self._transact(updates, "save settings")

    def remove(self, names: Iterable[str] | None) -> None:
        """Drop these overrides (or all of them), so their defaults apply again."""
        # Only rows holding an override: an update of a missing key would create a stray row.
        current = self.overrides()
        names = list(current) if names is None else [n for n in names if n in current]
        removals = [{"Update": {
            "TableName": self.table_name, "Key": {NAME: {"S": name}},
            "UpdateExpression": "REMOVE #value",
            "ExpressionAttributeNames": {"#value": VALUE},
        }} for name in dict.fromkeys(names)]
        self._transact(removals, "reset settings")

    def seed_defaults(self) -> int:
        """Write ``DefaultValue`` and ``SettingCategory`` of every registry setting; overrides are
        kept. Returns how many rows were written."""
        updates = [self._update(name, {}, set_default=True) for name in REGISTRY]
        self._transact(updates, "seed the default settings")
        return len(updates)

    # --- plumbing ------------------------------------------------------------------------------

    def _update(self, name: str, values: dict[str, str], *, set_default: bool) -> dict[str, Any]:
        setting = REGISTRY.get(name)
        fields = dict(values)
        if set_default:
            fields[DEFAULT] = setting.default if setting else ""
            fields[CATEGORY] = setting.category if setting else "Custom"
        names = {f"#f{i}": field for i, field in enumerate(fields)}
        return {"Update": {
            "TableName": self.table_name, "Key": {NAME: {"S": name}},
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":v{i}": {"S": value}
                                          for i, value in enumerate(fields.values())},
        }}

    def _transact(self, actions: list[dict[str, Any]], what: str) -> None:
        for start in range(0, len(actions), _TRANSACTION_LIMIT):
            chunk = actions[start:start + _TRANSACTION_LIMIT]
            try:
                self.client.transact_write_items(TransactItems=chunk)
            except (ClientError, BotoCoreError) as exc:
                raise self._error(what, exc) from exc

    def _scan(self) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            try:
                page = self.client.scan(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise self._error("read settings", exc) from exc
            yield from page.get("Items", ())
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _error(self, what: str, exc: Exception) -> SettingsTableError:
        return SettingsTableError(describe_table_error(
            self.table_name, what, exc, variable="SETTINGS_TABLE",
            actions="dynamodb:Scan and dynamodb:UpdateItem"))


def describe_table_error(table: str, what: str, exc: Exception, *, variable: str,
                         actions: str) -> str:
    """What failed on a DynamoDB table and what to do about it, for an adapter's error.

    Example:
        >>> describe_table_error("t", "read settings", RuntimeError("timeout"), variable="T",
        ...                      actions="dynamodb:Scan").split(". ")[0]
        'cannot read settings in DynamoDB table "t": timeout'
    """
    code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else ""
    hint = {
        "ResourceNotFoundException": f"Check {variable}: the table does not exist in this "
                                     "account and region.",
        "AccessDeniedException": f"Grant this function's role {actions} on the table.",
    }.get(code, "Try again; if it persists, check the table in the DynamoDB console.")
    return f'cannot {what} in DynamoDB table "{table}": {exc}. {hint}'
