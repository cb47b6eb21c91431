"""failover-harness: prove that a hybrid VPN to an active-active Azure gateway fails over."""

__version__ = "0.1.0"
