"""A local Azure Resource Manager (Microsoft.Network) for the lab's VPN gateway.

The real azure-identity and azure-mgmt-network talk to it over HTTPS; every answer is read
from the lab's live routers when the snapshot is taken. Map of the package:

- `observations`  what a gateway looks like, source-agnostic (BGP peers, routes, tunnels,
                  IKE SAs) and the `GatewaySource` protocol that yields them.
- `live_source`   `LiveLabSource`: reads FRR (vtysh JSON), strongSwan (vici) and interface
                  counters of a running lab; `frr_parse` turns FRR JSON into observations.
- `static_source` `StaticGatewaySource`: fixed observations, for unit tests and demos.
- `arm`           pure functions: observations + lab topology -> ARM JSON bodies.
- `arm_resources` pure: the gateway, public IP and local network gateway resources.
- `settings`      behaviours (LRO latency, snapshot time, throttling, resets, faults)
                  changeable at run time.
- `throttle`      ARM's per-subscription token buckets (reads, writes) and their headers.
- `lro`           long-running operations, with the null-body quirks on demand.
- `identity`      JWT-shaped tokens, ARM metadata endpoints, subscription/tenant bodies.
- `lab_reset`     an instance reset in the lab: BGP neighbors shut, IKE dropped, restored.
- `server`        the aiohttp app: Microsoft.Network routes, auth, throttling, faults.
- `service_routes` identity endpoint, metadata, subscriptions, the control endpoint.
- `tls`           the lab CA and server certificate.
- `control`       `EmulatorControl`: a tiny client to change settings and inject faults.
- `__main__`      `python -m failover_harness.lab.azure_emulator --lab-dir RUN_DIR --port P`.
- `example`       prints the gateway's BGP peers and learned routes with the real SDK.
"""
