"""Azure side of the harness: read the VPN gateway's BGP peers, learned routes and
connection status through the unmodified Azure SDK, continuously (`AzurePoller`) or once
(`read_once`, for `check`).
"""

from failover_harness.azure.client import AzureConnection, CappedARMPolling, build_credential, quiet_sdk_logging
from failover_harness.azure.models import AzureSnapshot, BgpPeer, ConnectionStatus, GatewayRoute
from failover_harness.azure.poller import AzurePoller
from failover_harness.azure.reader import GatewayReader, OneShotRead, classify_error, read_once
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.azure.tracker import ChangeTracker, SampleResult, SampleSequencer

__all__ = [
    "AzureConnection", "AzurePoller", "AzureSettings", "AzureSnapshot", "BgpPeer", "CappedARMPolling",
    "ChangeTracker", "ConnectionStatus", "GatewayReader", "GatewayRoute", "OneShotRead", "PollSettings",
    "SampleResult", "SampleSequencer", "build_credential", "classify_error", "quiet_sdk_logging", "read_once",
]
