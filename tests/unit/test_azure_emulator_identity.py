"""Any Azure client: JWT-shaped tokens, ARM metadata endpoints and the subscription list
that `az cloud register` / `az login --identity` read."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest

from failover_harness.lab.azure_emulator.identity import TokenError, Tokens, metadata_endpoints
from failover_harness.lab.state import EmulatorState
from tests.unit.azure_emulator_fixtures import RES, Running, emu, running  # noqa: F401 - fixtures


def _get(state: EmulatorState, path: str, token: str | None = None) -> tuple[int, object]:
    ctx = ssl.create_default_context(cafile=state.ca_bundle)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(state.base_url + path, headers=headers), context=ctx) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _token(state: EmulatorState, resource: str = "https://management.core.windows.net/") -> str:
    req = urllib.request.Request(f"{state.identity_endpoint}?api-version=2019-08-01&resource={resource}",
                                 headers={"X-IDENTITY-HEADER": Path(state.identity_header_file).read_text()})
    with urllib.request.urlopen(req) as r:
        return str(json.loads(r.read())["access_token"])


def test_tokens_are_jwts_with_standard_claims(emu: Running) -> None:
    token = _token(emu.state)
    claims = jwt.decode(token, options={"verify_signature": False})  # what az CLI does
    assert claims["aud"] == "https://management.core.windows.net/"
    assert claims["iss"] == f"https://sts.windows.net/{claims['tid']}/"
    assert {"tid", "oid", "sub", "appid", "iat", "nbf", "exp"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 3600
    assert _get(emu.state, "/subscriptions?api-version=2022-12-01", token)[0] == 200


def test_forged_or_foreign_tokens_are_refused() -> None:
    tokens = Tokens()
    good, _ = tokens.issue("https://management.azure.com/", 60)
    assert tokens.check(good)["aud"] == "https://management.azure.com/"
    forged = jwt.encode(jwt.decode(good, options={"verify_signature": False}), "another-key-of-32-bytes-or-more!!", algorithm="HS256")
    with pytest.raises(TokenError) as e:
        tokens.check(forged)
    assert e.value.code == "InvalidAuthenticationToken"
    graph, _ = tokens.issue("https://graph.microsoft.com/", 60)
    with pytest.raises(TokenError) as e:
        tokens.check(graph)
    assert e.value.code == "InvalidAuthenticationTokenAudience"
    old, _ = tokens.issue("https://management.azure.com/", 60, now=time.time() - 120)
    with pytest.raises(TokenError) as e:
        tokens.check(old)
    assert e.value.code == "ExpiredAuthenticationToken"


def test_metadata_endpoints_in_each_format(emu: Running) -> None:
    status, new = _get(emu.state, "/metadata/endpoints?api-version=2022-09-01")
    assert status == 200 and isinstance(new, dict)
    assert new["resourceManager"] == emu.state.base_url + "/"
    assert new["authentication"]["audiences"][0] == "https://management.core.windows.net/"  # type: ignore[index]
    assert "loginEndpoint" in new["authentication"] and "suffixes" in new  # type: ignore[operator]
    assert _get(emu.state, "//metadata/endpoints?api-version=2022-09-01") == (200, new), "az CLI's double slash"
    status, listed = _get(emu.state, "/metadata/endpoints?api-version=2019-05-01")
    assert status == 200 and listed == [new]
    status, legacy = _get(emu.state, "/metadata/endpoints?api-version=2015-01-01")
    assert status == 200 and isinstance(legacy, dict)
    assert set(legacy) == {"galleryEndpoint", "graphEndpoint", "portalEndpoint", "authentication"}
    assert metadata_endpoints("https://x:1", "2023-01-01") == metadata_endpoints("https://x:1", "2022-09-01")


def test_subscription_and_tenant_lists(emu: Running) -> None:
    token = _token(emu.state)
    status, body = _get(emu.state, "/subscriptions?api-version=2022-12-01", token)
    assert status == 200 and isinstance(body, dict)
    [sub] = body["value"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (sub["subscriptionId"], sub["tenantId"], sub["state"]) == (RES.subscription_id, claims["tid"], "Enabled")
    assert _get(emu.state, f"/subscriptions/{RES.subscription_id}?api-version=2022-12-01", token)[0] == 200
    assert _get(emu.state, "/subscriptions/nope?api-version=2022-12-01", token)[0] == 404
    status, tenants = _get(emu.state, "/tenants?api-version=2022-12-01", token)
    assert status == 200 and tenants["value"][0]["tenantId"] == claims["tid"]  # type: ignore[index]
    assert _get(emu.state, "/subscriptions?api-version=2022-12-01")[0] == 401
