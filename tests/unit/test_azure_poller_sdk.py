"""The real azure-identity and azure-mgmt-network, as the poller builds them, against a tiny
local HTTPS server speaking ARM LROs and the App Service managed-identity protocol.

Checks what a fake cannot: the CA bundle reaches both ARM and the identity endpoint, the
environment reaches the credential, CappedARMPolling polls faster than
Retry-After asks, SDK faults map to gap reasons, and no token or secret reaches the logs."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from failover_harness.azure.client import AzureConnection
from failover_harness.azure.reader import GatewayReader
from failover_harness.azure.settings import AzureSettings, PollSettings

TOKEN = "tok-" + "x" * 40
IDENTITY_SECRET = "identity-header-secret-1234"
GW_PATH = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/virtualNetworkGateways/gw"
PEERS = {"value": [{"localAddress": "10.0.255.4", "neighbor": "169.254.21.2", "asn": 65010, "state": "Connected"}]}


def make_certs(directory: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


class MiniArm:
    """Server state: the mode (ok, throttle, fail, stall) and what was asked."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.latency_s = 0.6
        self.operations: dict[str, float] = {}
        self.status_polls = 0
        self.token_requests = 0
        self.lock = threading.Lock()


def handler_for(arm: MiniArm, port_ref: list[int]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
            pass

        def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                return True
            self.reply(401, {"error": {"code": "InvalidAuthenticationToken", "message": "bad token"}})
            return False

        def do_GET(self) -> None:  # noqa: N802
            base = f"https://127.0.0.1:{port_ref[0]}"
            if self.path.startswith("/msi/token"):
                with arm.lock:
                    arm.token_requests += 1
                if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_SECRET:
                    return self.reply(401, {"error": "bad identity header"})
                return self.reply(200, {"access_token": TOKEN, "expires_on": str(int(time.time()) + 3600),
                                        "resource": "https://management.azure.com", "token_type": "Bearer"})
            if not self.authorized():
                return None
            if self.path.startswith("/op/"):
                op = self.path.split("/")[2].split("?")[0]
                with arm.lock:
                    arm.status_polls += 1
                    started = arm.operations[op]
                if arm.mode == "fail":
                    return self.reply(200, {"status": "Failed", "error": {"code": "Boom", "message": "failed"}})
                done = time.monotonic() - started >= arm.latency_s
                return self.reply(200, {"status": "Succeeded" if done else "InProgress"},
                                  {"Retry-After": "10"})
            if self.path.startswith("/result/"):
                return self.reply(200, PEERS)
            if self.path.startswith(f"{GW_PATH}?"):
                return self.reply(200, {"name": "gw", "properties": {"bgpSettings": {"asn": 65515}}})
            _ = base
            return self.reply(404, {"error": {"code": "NotFound", "message": self.path}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if not self.authorized():
                return None
            if arm.mode == "throttle":
                return self.reply(429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
                                  {"Retry-After": "2"})
            if arm.mode == "stall":
                time.sleep(3)
            if self.path.startswith(f"{GW_PATH}/getBgpPeerStatus"):
                op = str(len(arm.operations))
                with arm.lock:
                    arm.operations[op] = time.monotonic()
                base = f"https://127.0.0.1:{port_ref[0]}"
                return self.reply(202, {}, {"Azure-AsyncOperation": f"{base}/op/{op}?api-version=x",
                                            "Location": f"{base}/result/{op}?api-version=x",
                                            "Retry-After": "10"})
            return self.reply(404, {"error": {"code": "NotFound", "message": self.path}})

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a stalled call closes its socket: expected here


@pytest.fixture
def mini_arm(tmp_path: Path) -> Iterator[tuple[MiniArm, AzureSettings]]:
    ca, cert, key = make_certs(tmp_path)
    arm, port_ref = MiniArm(), [0]
    server = QuietServer(("127.0.0.1", 0), handler_for(arm, port_ref))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port_ref[0] = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"https://127.0.0.1:{port_ref[0]}"
    settings = AzureSettings(
        subscription_id="sub", resource_group="rg", gateway="gw", credential="default", base_url=base,
        ca_bundle=str(ca), environment={"IDENTITY_ENDPOINT": SecretStr(f"{base}/msi/token"),
                                        "IDENTITY_HEADER": SecretStr(IDENTITY_SECRET)},
        poll=PollSettings(lro_poll_interval_s=0.1, lro_max_delay_s=0.1, call_timeout_s=1.5))
    try:
        yield arm, settings
    finally:
        server.shutdown()
        server.server_close()


CREDENTIAL_ENV = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                  "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "IMDS_ENDPOINT")


@pytest.fixture(autouse=True)
def credential_env() -> Iterator[None]:
    """DefaultAzureCredential must pick the managed identity, as in the lab; the variables the
    settings apply (they stay set by design) are removed again after each test."""
    saved = {k: os.environ.pop(k) for k in CREDENTIAL_ENV if k in os.environ}
    yield
    for k in CREDENTIAL_ENV:
        os.environ.pop(k, None)
    os.environ.update(saved)


def test_real_sdk_reads_peers_through_identity_endpoint_and_capped_polling(
        mini_arm: tuple[MiniArm, AzureSettings], caplog: pytest.LogCaptureFixture) -> None:
    arm, settings = mini_arm
    caplog.set_level(logging.DEBUG)
    conn = AzureConnection(settings)
    try:
        assert os.environ["IDENTITY_ENDPOINT"] == f"{settings.base_url}/msi/token"
        reader = GatewayReader(settings, conn, time.monotonic)
        t0 = time.monotonic()
        sample = reader.read("bgp_peer_status", t0, timeout=8.0)
        assert sample.ok, sample.error
        assert sample.peers and sample.peers[0].neighbor == "169.254.21.2"
        # Retry-After 10 on every answer: uncapped, the SDK would poll once, 10 s later.
        assert arm.status_polls >= 3
        print(f"LRO with 0.6 s latency and Retry-After 10 took {sample.end - sample.start:.2f} s, "
              f"{arm.status_polls} status polls")
        assert reader.gateway_asn() == 65515
    finally:
        conn.close()
    assert arm.token_requests >= 1
    assert TOKEN not in caplog.text and IDENTITY_SECRET not in caplog.text


@pytest.mark.parametrize("mode,reason", [("throttle", "throttled"), ("fail", "lro_failed"), ("stall", "timeout")])
def test_real_sdk_faults_map_to_gap_reasons(mini_arm: tuple[MiniArm, AzureSettings], mode: str, reason: str) -> None:
    arm, settings = mini_arm
    arm.mode = mode
    conn = AzureConnection(settings)
    try:
        sample = GatewayReader(settings, conn, time.monotonic).read("bgp_peer_status", time.monotonic())
    finally:
        conn.close()
    assert not sample.ok and sample.gap_reason == reason, sample.error
    if mode == "throttle":
        assert sample.retry_after == 2.0


def test_refused_identity_header_is_an_auth_gap(mini_arm: tuple[MiniArm, AzureSettings],
                                               caplog: pytest.LogCaptureFixture) -> None:
    _, settings = mini_arm
    caplog.set_level(logging.DEBUG, logger="urllib3")
    wrong = AzureSettings.model_validate({**settings.model_dump(), "environment": {
        "IDENTITY_ENDPOINT": settings.environment["IDENTITY_ENDPOINT"].get_secret_value(), "IDENTITY_HEADER": "nope"}})
    conn = AzureConnection(wrong)
    try:
        sample = GatewayReader(wrong, conn, time.monotonic).read("bgp_peer_status", time.monotonic())
    finally:
        conn.close()
    assert not sample.ok and sample.gap_reason == "auth"
    assert "nope" not in (sample.error or "")
    assert "169.254.169.254" not in caplog.text  # never fell back to the IMDS address
