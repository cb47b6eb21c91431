"""Plain settings for the Azure side: what to poll, how to authenticate, how fast to poll.

Nothing here is lab-specific beyond `base_url`, `ca_bundle` and `environment`, which a
production inventory leaves out (a lab points them at its HTTPS emulator and its CA).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from failover_harness.azure.budget import BudgetSettings
from failover_harness.vocabulary import CredentialKind

# Hard ceiling of calls in flight per operation when max_in_flight is left to the budget:
# 60 s LROs at one call a second plus one, or 20-30 s LROs at the two to three calls a second
# a varying latency asks for (azure/overlap.py) and the ~50 a focus's lead adds (rates.py).
IN_FLIGHT_CEILING = 128


class PollSettings(BaseModel):
    """Timing of the continuous poller. Defaults give about one sample a second per call."""

    model_config = ConfigDict(extra="forbid")

    # A new call of each operation starts this often; calls overlap when they take longer.
    sample_interval_s: float = Field(default=1.0, gt=0)
    # Delay between LRO status polls when the server sends no Retry-After (SDK default: 30 s).
    lro_poll_interval_s: float = Field(default=0.5, gt=0)
    # Upper bound on any delay between LRO status polls, Retry-After included.
    lro_max_delay_s: float = Field(default=1.0, gt=0)
    # A call (initial request, status polls, final GET) that takes longer is a gap ("timeout").
    call_timeout_s: float = Field(default=30.0, gt=0)
    connection_timeout_s: float = Field(default=5.0, gt=0)
    # Calls of one operation in flight at once (stalled ones count until their thread ends).
    # None: as many as the request budget allows (one call starts per interval, so about
    # ceil(latency / interval) + 1 are in flight), up to IN_FLIGHT_CEILING.
    max_in_flight: int | None = Field(default=None, ge=1, le=IN_FLIGHT_CEILING)
    # The continuous poller's status polls go first to the LROs most likely done
    # (poll_gate.py); one that waited this long for a poll goes before them.
    lro_budget_max_delay_s: float = Field(default=3.0, gt=0)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    # How often the poller writes its achieved-interval and budget summary to the timeline.
    summary_interval_s: float = Field(default=10.0, gt=0)
    # After a failed sample the next call of that operation waits this long, doubling.
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    # Retries inside the SDK per request. The poller is the retry loop: SDK retries would
    # hide a throttled or failing API inside one long sample instead of showing a gap.
    sdk_retry_total: int = Field(default=0, ge=0, le=10)
    # After this many consecutive authentication failures the credential and client are rebuilt.
    reauth_after_failures: int = Field(default=2, ge=1)
    reauth_min_interval_s: float = Field(default=15.0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> PollSettings:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self

    def in_flight_cap(self) -> int:
        return self.max_in_flight if self.max_in_flight is not None else IN_FLIGHT_CEILING


class AzureSettings(BaseModel):
    """The Azure part of an inventory, with secrets already resolved from their references."""

    model_config = ConfigDict(extra="forbid")

    subscription_id: str = Field(min_length=1)
    resource_group: str = Field(min_length=1)
    gateway: str = Field(min_length=1)
    connections: list[str] = Field(default_factory=list)
    credential: CredentialKind = "default"
    base_url: str | None = None  # None: the public cloud's ARM endpoint
    ca_bundle: str | None = None  # PEM file that signs base_url (and the identity endpoint)
    # Set in os.environ while the credential is built (e.g. IDENTITY_ENDPOINT/IDENTITY_HEADER
    # for the App Service managed-identity protocol). Values are secrets: never printed.
    environment: dict[str, SecretStr] = Field(default_factory=dict)
    poll: PollSettings = Field(default_factory=PollSettings)

    @model_validator(mode="after")
    def _https_only(self) -> AzureSettings:
        # azure-core refuses bearer tokens over plain http; fail early with a clear message.
        if self.base_url is not None and not self.base_url.startswith("https://"):
            raise ValueError("base_url must be an https:// URL (bearer tokens need TLS)")
        return self
