"""Secrets by reference: resolution, errors that say where the reference was written,
redaction, and Key Vault through the real azure-keyvault-secrets client over HTTPS."""

from __future__ import annotations

import datetime
import json
import ssl
import sys
import threading
import time
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from failover_harness.errors import InfrastructureError, InputError
from failover_harness.inventory import load_inventory
from failover_harness.secrets import (EnvRef, FileRef, KeyringRef, KeyVaultRef,
                                      forget_secret_values, known_secret_values, redact,
                                      register_secret_value, resolve, resolve_optional)

ROOT = Path(__file__).resolve().parents[2]
LAB_TEXT = (ROOT / "inventories" / "lab.yaml").read_text()


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    forget_secret_values()
    yield
    forget_secret_values()


def inventory_with(tmp_path: Path, password: str, header: str | None = None) -> Path:
    text = LAB_TEXT.replace("{file: /run/failover-harness/fh/secrets/edge1.password}", password)
    if header is not None:
        text = text.replace("{file: /run/failover-harness/fh/azure/identity-header}", header)
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_env_reference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FH_TEST_PW", "pa55-from-env")
    inv = load_inventory(inventory_with(tmp_path, "{env: FH_TEST_PW}"))
    secret = resolve(inv.devices["edge1"].password)
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == "pa55-from-env"
    assert "pa55" not in repr(secret) and "pa55" not in str(secret)
    assert known_secret_values() == ["pa55-from-env"]


def test_missing_env_var_names_where_it_was_referenced(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FH_TEST_NOT_SET", raising=False)
    path = inventory_with(tmp_path, "{env: FH_TEST_NOT_SET}")
    inv = load_inventory(path)
    with pytest.raises(InputError) as info:
        resolve(inv.devices["edge1"].password)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line_of(path, "FH_TEST_NOT_SET"),
                                               "devices.edge1.password")
    assert str(err) == (f"{path}:{err.line}: field 'devices.edge1.password': environment "
                        "variable FH_TEST_NOT_SET is not set")
    monkeypatch.setenv("FH_TEST_NOT_SET", "")
    with pytest.raises(InputError, match="is empty"):
        resolve(inv.devices["edge1"].password)


def test_file_reference(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("file-secret-1\n")
    (tmp_path / "hdr").write_text("header-secret-2")
    inv = load_inventory(inventory_with(tmp_path, "{file: pw}", "{file: hdr}"))
    assert resolve(inv.devices["edge1"].password).get_secret_value() == "file-secret-1"
    assert resolve_optional(inv.azure.environment["IDENTITY_HEADER"]) == "header-secret-2"
    assert resolve_optional(inv.azure.environment["IDENTITY_ENDPOINT"]).startswith("http://127.0.0.1:")
    assert known_secret_values() == ["header-secret-2", "file-secret-1"]


@pytest.mark.parametrize(("setup", "words"), [
    (lambda d: None, "does not exist"),
    (lambda d: (d / "pw").write_text("\n"), "is empty"),
    (lambda d: (d / "pw").mkdir(), "is a directory"),
    (lambda d: (d / "pw").write_bytes(b"\xff\xfe"), "not UTF-8"),
])
def test_file_reference_errors(tmp_path: Path, setup: Any, words: str) -> None:
    setup(tmp_path)
    path = inventory_with(tmp_path, "{file: pw}")
    inv = load_inventory(path)
    with pytest.raises(InputError) as info:
        resolve(inv.devices["edge1"].password)
    assert words in str(info.value)
    assert str(info.value).startswith(f"{path}:{line_of(path, 'password:')}: field "
                                      "'devices.edge1.password': secret file ")


def test_secrets_never_in_repr_or_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FH_TEST_PW", "do-not-print-me")
    path = inventory_with(tmp_path, "{env: FH_TEST_PW}")
    inv = load_inventory(path)
    secret = resolve(inv.devices["edge1"].password)
    assert "do-not-print-me" not in repr(inv) + str(inv) + repr(secret) + inv.model_dump_json()
    # A validation error elsewhere in a file holding a literal password does not echo it.
    bad = tmp_path / "bad.yaml"
    bad.write_text(LAB_TEXT.replace("{file: /run/failover-harness/fh/secrets/edge1.password}",
                                    "do-not-print-me").replace("port: 22", "port: x"))
    with pytest.raises(InputError) as info:
        load_inventory(bad)
    assert "do-not-print-me" not in str(info.value)
    assert "devices.edge1.password" in str(info.value) and "devices.edge1.port" in str(info.value)


def test_redact_and_register() -> None:
    register_secret_value("tok-123")
    register_secret_value("tok-123456")
    register_secret_value("")
    assert known_secret_values() == ["tok-123456", "tok-123"]
    assert redact("a tok-123456 b tok-123 c") == "a *** b *** c"


def test_keyring_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    store = {("fh", "netops"): "from-keyring"}
    fake = types.ModuleType("keyring")
    fake.get_password = lambda service, username: store.get((service, username))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    ref = KeyringRef.model_validate({"keyring": {"service": "fh", "username": "netops"}})
    assert resolve(ref).get_secret_value() == "from-keyring"
    missing = KeyringRef.model_validate({"keyring": {"service": "fh", "username": "root"}})
    with pytest.raises(InputError, match="keyring entry fh/root does not exist"):
        resolve(missing)
    monkeypatch.setitem(sys.modules, "keyring", None)  # not installed
    with pytest.raises(InputError, match="pip install keyring"):
        resolve(ref)


# ---------------------------------------------------------------- Key Vault over HTTPS


def _tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (PEM files: ca, cert, key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test vault CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class _Vault(BaseHTTPRequestHandler):
    """The Key Vault secrets API as the SDK uses it: a bearer challenge, then GET secret."""

    secrets: dict[str, str] = {}
    seen_tokens: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        auth = self.headers.get("Authorization")
        if not auth:
            self._reply(401, {"error": {"code": "Unauthorized"}}, {
                "WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/'
                '00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"'})
            return
        self.seen_tokens.append(auth)
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "secrets" and parts[1] in self.secrets:
            base = f"https://127.0.0.1:{self.server.server_address[1]}"
            self._reply(200, {"value": self.secrets[parts[1]],
                              "id": f"{base}/secrets/{parts[1]}/0123456789abcdef",
                              "attributes": {"enabled": True}})
        else:
            self._reply(404, {"error": {"code": "SecretNotFound",
                                        "message": "A secret with this name was not found"}})

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
               ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _StaticCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        assert scopes == ("https://vault.azure.net/.default",)
        return AccessToken("test-bearer-token", int(time.time()) + 3600)


@pytest.fixture()
def vault(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca, cert, key = _tls_files(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Vault)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Vault.secrets = {"edge1-password": "vault-secret-42"}
    _Vault.seen_tokens = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_keyvault_reference_through_the_sdk(vault: tuple[str, Path], tmp_path: Path) -> None:
    url, ca = vault
    path = inventory_with(tmp_path, f"{{keyvault: {{vault_url: '{url}', name: edge1-password}}}}")
    inv = load_inventory(path)
    ref = inv.devices["edge1"].password
    assert isinstance(ref, KeyVaultRef)
    secret = resolve(ref, credential=_StaticCredential(), connection_verify=str(ca),  # type: ignore[arg-type]
                     verify_challenge_resource=False)
    assert secret.get_secret_value() == "vault-secret-42"
    assert _Vault.seen_tokens == ["Bearer test-bearer-token"]
    assert "vault-secret-42" in known_secret_values()


def test_keyvault_missing_secret_is_an_input_error(vault: tuple[str, Path], tmp_path: Path) -> None:
    url, ca = vault
    path = inventory_with(tmp_path, f"{{keyvault: {{vault_url: '{url}', name: nope}}}}")
    ref = load_inventory(path).devices["edge1"].password
    with pytest.raises(InputError) as info:
        resolve(ref, credential=_StaticCredential(), connection_verify=str(ca),  # type: ignore[arg-type]
                verify_challenge_resource=False)
    assert info.value.field == "devices.edge1.password" and info.value.file == str(path)
    assert "Key Vault secret nope in" in str(info.value) and "does not exist" in str(info.value)


def test_keyvault_unreachable_is_infrastructure(tmp_path: Path) -> None:
    ref = KeyVaultRef.model_validate({"keyvault": {"vault_url": "https://127.0.0.1:9",
                                                   "name": "x"}})
    with pytest.raises(InfrastructureError, match="unreachable"):
        resolve(ref, credential=_StaticCredential(), verify_challenge_resource=False,  # type: ignore[arg-type]
                connection_verify=False)


@pytest.mark.parametrize("text", [
    "{env: A, file: B}", "{vault: x}", "[env, X]", "{keyvault: {vault_url: 'http://x', name: y}}",
    "{keyvault: {name: y}}", "{env: 'has space'}", "42",
])
def test_malformed_references(tmp_path: Path, text: str) -> None:
    path = inventory_with(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_inventory(path)
    assert "devices.edge1.password" in str(info.value)
    assert info.value.line == line_of(path, "password:")


def test_reference_equality_ignores_where_it_was_written() -> None:
    a, b = EnvRef(env="X"), EnvRef(env="X")
    a.set_origin("f.yaml", 3, "devices.x.password")
    assert a == b and hash(a) == hash(b)
    assert a != FileRef(file="X")
