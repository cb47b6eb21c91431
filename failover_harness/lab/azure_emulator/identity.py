"""Who the lab's caller is: JWT-shaped access tokens from the managed identity endpoint, the
tenant and subscription ARM lists for it, and ARM's cloud metadata (what
`az cloud register --endpoint-resource-manager` reads).

Clients never check a token's signature (they cannot: only Entra ID holds the key), but
the az CLI decodes it for `tid` (azure-cli core/_profile.py `login_with_managed_identity`:
`jwt.decode(token, options={"verify_signature": False})`). So tokens are JWTs with the
standard Entra ID access-token claims (learn.microsoft.com/entra/identity-platform/
access-token-claims-reference: aud, iss, iat, nbf, exp, tid, oid, sub, appid, idtyp),
signed HS256 with a per-emulator secret, which the emulator itself checks.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field

import jwt

TENANT_ID = "00000000-0000-0000-0000-0000000fa11e"
IDENTITY_OBJECT_ID = "00000000-0000-0000-0000-0000000c0b1d"
IDENTITY_CLIENT_ID = "00000000-0000-0000-0000-0000000c11e7"
# What ARM accepts as a token's audience (public cloud spellings, with and without "/").
ARM_AUDIENCES = frozenset({"https://management.azure.com", "https://management.azure.com/",
                           "https://management.core.windows.net", "https://management.core.windows.net/"})


class TokenError(Exception):
    """Why a bearer token is refused; `code` is ARM's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Tokens:
    """Issues and checks the lab's access tokens."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    tenant_id: str = TENANT_ID

    def issue(self, resource: str, lifetime_s: int, now: float | None = None) -> tuple[str, int]:
        issued = int(time.time() if now is None else now)
        expires_on = issued + lifetime_s  # whole seconds, as the identity protocol sends them
        claims = {
            "aud": resource, "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": issued, "nbf": issued, "exp": expires_on,
            "tid": self.tenant_id, "oid": IDENTITY_OBJECT_ID, "sub": IDENTITY_OBJECT_ID,
            "appid": IDENTITY_CLIENT_ID, "appidacr": "2", "idtyp": "app", "ver": "1.0",
            "uti": uuid.uuid4().hex[:22],
        }
        return jwt.encode(claims, self.key, algorithm="HS256"), expires_on

    def check(self, token: str, now: float | None = None) -> dict[str, object]:
        """The claims of a token this emulator issued, or TokenError with ARM's code."""
        try:
            claims: dict[str, object] = jwt.decode(token, self.key, algorithms=["HS256"],
                                                   options={"verify_exp": False, "verify_aud": False})
        except jwt.PyJWTError as e:
            raise TokenError("InvalidAuthenticationToken", "The access token is invalid.") from e
        exp = int(str(claims.get("exp", 0)))
        current = time.time() if now is None else now
        if current >= exp:
            raise TokenError("ExpiredAuthenticationToken",
                             "The access token expiry UTC time "
                             f"'{time.strftime('%m/%d/%Y %H:%M:%S', time.gmtime(exp))}'"
                             f" is earlier than current UTC time "
                             f"'{time.strftime('%m/%d/%Y %H:%M:%S', time.gmtime(current))}'.")
        if claims.get("aud") not in ARM_AUDIENCES:
            raise TokenError("InvalidAuthenticationTokenAudience",
                             "The access token has been obtained for wrong audience or resource "
                             f"'{claims.get('aud')}'.")
        return claims


# --- ARM metadata endpoints -------------------------------------------------------------

_SUFFIXES = {  # public cloud's, so clients that derive hostnames from them do not choke
    "acrLoginServer": "azurecr.io", "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
    "azureDataLakeStoreFileSystem": "azuredatalakestore.net", "keyVaultDns": "vault.azure.net",
    "mhsmDns": "managedhsm.azure.net", "sqlServerHostname": "database.windows.net",
    "storage": "core.windows.net", "attestationEndpoint": "attest.azure.net",
    "synapseAnalytics": "dev.azuresynapse.net",
}


def cloud_metadata(arm_base_url: str, name: str = "FailoverLab") -> dict[str, object]:
    """One cloud as GET /metadata/endpoints?api-version=2022-09-01 describes it (az CLI's
    cloud module reads name, authentication.loginEndpoint, authentication.audiences[0],
    resourceManager and suffixes)."""
    arm = arm_base_url.rstrip("/") + "/"
    return {
        "name": name,
        "portal": "https://portal.azure.com",
        "authentication": {"loginEndpoint": "https://login.microsoftonline.com/",
                           "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                           "tenant": "common", "identityProvider": "AAD"},
        "resourceManager": arm,
        "gallery": "https://gallery.azure.com/",
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "batch": "https://batch.core.windows.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "media": "https://rest.media.azure.net",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/"
                           "quickstart-templates/aliases.json",
        "suffixes": dict(_SUFFIXES),
    }


def metadata_endpoints(arm_base_url: str, api_version: str) -> object:
    """The body for GET /metadata/endpoints. api-version 2022-09-01 (az CLI 2.4x+) and later
    answer one cloud object; 2019-05-01 (older az CLI, SDKs' cloud lists) answers a list of
    clouds; 2015-01-01 and older (or none) the legacy flat
    object with galleryEndpoint/graphEndpoint/portalEndpoint/authentication."""
    cloud = cloud_metadata(arm_base_url)
    if api_version >= "2022-09-01":
        return cloud
    if api_version >= "2018-01-01":
        return [cloud]
    return {"galleryEndpoint": cloud["gallery"], "graphEndpoint": cloud["graph"],
            "portalEndpoint": f"{cloud['portal']}/", "authentication": cloud["authentication"]}


def subscription_resource(subscription_id: str, tenant_id: str = TENANT_ID) -> dict[str, object]:
    """GET /subscriptions (Microsoft.Resources), what `az login` lists."""
    return {
        "id": f"/subscriptions/{subscription_id}", "authorizationSource": "RoleBased",
        "managedByTenants": [], "subscriptionId": subscription_id, "tenantId": tenant_id,
        "displayName": "failover-harness lab", "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                 "spendingLimit": "Off"},
    }


def tenant_resource(tenant_id: str = TENANT_ID) -> dict[str, object]:
    return {"id": f"/tenants/{tenant_id}", "tenantId": tenant_id, "tenantCategory": "Home",
            "displayName": "failover-harness lab", "defaultDomain": "failover-lab.example"}
