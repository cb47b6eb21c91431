"""Secrets only by reference: {env: NAME}, {file: PATH}, {keyvault: {vault_url, name}},
{keyring: {service, username}}. Resolved values come back as SecretStr and are remembered,
so that whoever writes files can check they hold none of them (`known_secret_values`).

No secret value ever appears in a repr, a str or an error message.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, SecretStr, Tag

from failover_harness.errors import InfrastructureError, InputError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
REFERENCE_HELP = ("write a reference instead: {env: NAME} (environment variable), "
                  "{file: /path/to/file}, {keyvault: {vault_url: https://NAME.vault.azure.net, "
                  "name: SECRET}} or {keyring: {service: S, username: U}}")


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Where the reference was written (file, line, field path); set by the loader so that
    # resolution errors point at the inventory line.
    _origin: tuple[str | None, int | None, str | None] = PrivateAttr(default=(None, None, None))

    def set_origin(self, file: str | None, line: int | None, field: str | None) -> None:
        self._origin = (file, line, field)

    def error(self, message: str) -> InputError:
        file, line, field = self._origin
        return InputError(message, file=file, line=line, field=field)

    def describe(self) -> str:
        raise NotImplementedError

    # Equal references are equal wherever they were written.
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self.model_dump())))


class EnvRef(_Ref):
    env: str = Field(pattern=ENV_NAME)

    def describe(self) -> str:
        return f"environment variable {self.env}"


class FileRef(_Ref):
    file: str = Field(min_length=1)

    def describe(self) -> str:
        return f"file {self.file}"


class KeyVaultLocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vault_url: str = Field(pattern=r"^https://[^\s/]+/?$")
    name: str = Field(pattern=r"^[0-9A-Za-z-]{1,127}$")
    version: str | None = None


class KeyVaultRef(_Ref):
    keyvault: KeyVaultLocation

    def describe(self) -> str:
        return f"Key Vault secret {self.keyvault.name} in {self.keyvault.vault_url}"


class KeyringLocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(min_length=1)
    username: str = Field(min_length=1)


class KeyringRef(_Ref):
    keyring: KeyringLocation

    def describe(self) -> str:
        return f"keyring entry {self.keyring.service}/{self.keyring.username}"


_REF_KINDS = ("env", "file", "keyvault", "keyring")


def _ref_kind(value: Any) -> str | None:
    if isinstance(value, _Ref):
        return next(k for k in _REF_KINDS if k in type(value).model_fields)
    if isinstance(value, dict):
        kinds = [k for k in _REF_KINDS if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return None


SecretRef = Annotated[
    Annotated[EnvRef, Tag("env")] | Annotated[FileRef, Tag("file")]
    | Annotated[KeyVaultRef, Tag("keyvault")] | Annotated[KeyringRef, Tag("keyring")],
    Discriminator(_ref_kind, custom_error_type="secret_reference",
                  custom_error_message="not a secret reference: " + REFERENCE_HELP),
]
AnyRef = EnvRef | FileRef | KeyVaultRef | KeyringRef


def _plain_or_ref(value: Any) -> str:
    return "plain" if isinstance(value, str) else (_ref_kind(value) or "invalid")


# A value that is either a plain (non-secret) string or a secret reference.
StringOrSecret = Annotated[
    Annotated[str, Tag("plain")] | Annotated[EnvRef, Tag("env")] | Annotated[FileRef, Tag("file")]
    | Annotated[KeyVaultRef, Tag("keyvault")] | Annotated[KeyringRef, Tag("keyring")],
    Discriminator(_plain_or_ref, custom_error_type="string_or_secret",
                  custom_error_message="expected a string or a secret reference: "
                  + REFERENCE_HELP),
]


class _Registry:
    """Every secret value resolved in this process (for scans of written files)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        if value:
            with self._lock:
                self._values.add(value)

    def values(self) -> list[str]:
        with self._lock:
            return sorted(self._values, key=lambda v: (-len(v), v))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_registry = _Registry()


def known_secret_values() -> list[str]:
    """Values of every secret resolved so far, longest first."""
    return _registry.values()


def register_secret_value(value: str) -> None:
    """Remember a secret obtained elsewhere (a token, a header) so scans look for it too."""
    _registry.add(value)


def forget_secret_values() -> None:
    """For tests: start from an empty registry."""
    _registry.clear()


def redact(text: str, replacement: str = "***") -> str:
    """`text` with every known secret value replaced."""
    for value in _registry.values():
        text = text.replace(value, replacement)
    return text


def resolve(ref: AnyRef, *, credential: TokenCredential | None = None,
            connection_verify: str | bool | None = None,
            verify_challenge_resource: bool = True) -> SecretStr:
    """The secret a reference points at. Missing secrets are InputErrors naming where the
    reference was written; Key Vault outages are InfrastructureErrors.

    Key Vault only: `credential` (default DefaultAzureCredential; pass the inventory's),
    `connection_verify` (a CA bundle), `verify_challenge_resource=False` for a vault that is
    not on *.vault.azure.net (a lab's, on loopback)."""
    if isinstance(ref, EnvRef):
        value = _from_env(ref)
    elif isinstance(ref, FileRef):
        value = _from_file(ref)
    elif isinstance(ref, KeyVaultRef):
        value = _from_keyvault(ref, credential, connection_verify, verify_challenge_resource)
    elif isinstance(ref, KeyringRef):
        value = _from_keyring(ref)
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a secret reference: {type(ref).__name__}")
    _registry.add(value)
    return SecretStr(value)


def resolve_optional(value: str | AnyRef, **kwargs: Any) -> str:
    """A plain string as it is; a reference resolved (for maps that mix both)."""
    if isinstance(value, str):
        return value
    return resolve(value, **kwargs).get_secret_value()


def _from_env(ref: EnvRef) -> str:
    value = os.environ.get(ref.env)
    if value is None:
        raise ref.error(f"environment variable {ref.env} is not set")
    if not value:
        raise ref.error(f"environment variable {ref.env} is empty")
    return value


def _from_file(ref: FileRef) -> str:
    path = Path(ref.file).expanduser()
    try:
        value = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ref.error(f"secret file {ref.file} does not exist") from None
    except IsADirectoryError:
        raise ref.error(f"secret file {ref.file} is a directory") from None
    except UnicodeDecodeError:
        raise ref.error(f"secret file {ref.file} is not UTF-8 text") from None
    except OSError as exc:
        raise ref.error(f"secret file {ref.file} cannot be read: {exc.strerror}") from None
    value = value.rstrip("\r\n")  # files written by `echo` end with a newline
    if not value:
        raise ref.error(f"secret file {ref.file} is empty")
    return value


def _from_keyvault(ref: KeyVaultRef, credential: TokenCredential | None,
                   connection_verify: str | bool | None, verify_challenge_resource: bool) -> str:
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
    from azure.keyvault.secrets import SecretClient

    if credential is None:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    kwargs: dict[str, Any] = {"verify_challenge_resource": verify_challenge_resource}
    if connection_verify is not None:
        kwargs["connection_verify"] = connection_verify
    where = ref.describe()
    try:
        client = SecretClient(vault_url=ref.keyvault.vault_url, credential=credential, **kwargs)
        with client:
            secret = client.get_secret(ref.keyvault.name, ref.keyvault.version)
    except ResourceNotFoundError:
        raise ref.error(f"{where} does not exist") from None
    except ClientAuthenticationError as exc:
        raise InfrastructureError(f"{where}: authentication failed "
                                  f"({_azure_reason(exc)})") from None
    except HttpResponseError as exc:
        raise InfrastructureError(f"{where}: Key Vault answered {exc.status_code} "
                                  f"({_azure_reason(exc)})") from None
    except AzureError as exc:
        raise InfrastructureError(f"{where}: Key Vault unreachable "
                                  f"({type(exc).__name__})") from None
    if not secret.value:
        raise ref.error(f"{where} is empty")
    return secret.value


def _azure_reason(exc: Any) -> str:
    code = getattr(getattr(exc, "error", None), "code", None)
    return str(code) if code else type(exc).__name__


def _from_keyring(ref: KeyringRef) -> str:
    try:
        import keyring  # optional dependency
    except ImportError:
        raise ref.error("keyring references need the 'keyring' package "
                        "(pip install keyring)") from None
    try:
        value = keyring.get_password(ref.keyring.service, ref.keyring.username)
    except Exception as exc:  # keyring backends raise their own types
        raise InfrastructureError(f"{ref.describe()}: keyring failed "
                                  f"({type(exc).__name__})") from None
    if not value:
        raise ref.error(f"{ref.describe()} does not exist")
    return str(value)


def reject_literal_secret(value: Any) -> Any:
    """Before-validator for password-like fields: a plain string is refused with the fix."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        from pydantic_core import PydanticCustomError
        raise PydanticCustomError(
            "literal_secret", "a literal secret is not allowed here; {help}",
            {"help": REFERENCE_HELP})
    return value


__all__ = [
    "REFERENCE_HELP",
    "AnyRef",
    "EnvRef",
    "FileRef",
    "KeyVaultLocation",
    "KeyVaultRef",
    "KeyringLocation",
    "KeyringRef",
    "SecretRef",
    "StringOrSecret",
    "forget_secret_values",
    "known_secret_values",
    "redact",
    "register_secret_value",
    "reject_literal_secret",
    "resolve",
    "resolve_optional",
]
