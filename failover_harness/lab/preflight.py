"""Refuse early, with what to do: root, the Debian packages, the kernel's interfaces, the
lab prefix."""

from __future__ import annotations

import os
from pathlib import Path

from failover_harness.errors import LabError
from failover_harness.lab.host import CHARON, FRR_BIN, ip
from failover_harness.lab.topology import LabOptions


def required_binaries(options: LabOptions) -> dict[str, str]:
    """Binary -> the Debian package that provides it."""
    need = {str(FRR_BIN / d): "frr" for d in ("zebra", "bgpd", "staticd")}
    need.update({"/usr/bin/vtysh": "frr", "/usr/sbin/sshd": "openssh-server",
                 "/usr/bin/ssh-keygen": "openssh-client", "/usr/bin/openssl": "openssl",
                 "/usr/bin/unshare": "util-linux", "/usr/bin/ip": "iproute2"})
    if options.bfd:
        need[str(FRR_BIN / "bfdd")] = "frr"
    if options.ipsec:
        need[str(CHARON)] = "strongswan-charon"
        need["/usr/sbin/swanctl"] = "strongswan-swanctl"
        need["/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"] = "libcharon-extra-plugins"
        need["/usr/lib/ipsec/plugins/libstrongswan-gcm.so"] = "libstrongswan-standard-plugins"
    if options.loss:
        need["/usr/sbin/nft"] = "nftables"
    return need


def preflight(prefix: str, options: LabOptions) -> str:
    """Refuse early with what to do; returns the tunnel kind the kernel offers (gre|vxlan)."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces): run it with sudo")
    missing = sorted({pkg for path, pkg in required_binaries(options).items()
                      if not Path(path).exists()})
    if missing:
        raise LabError(f"missing packages: {' '.join(missing)}: run scripts/install.sh "
                       f"(or apt-get install {' '.join(missing)})")
    if options.ipsec and not Path("/dev/net/tun").exists():
        raise LabError("IPsec needs /dev/net/tun (TUN) for kernel-libipsec: load the tun "
                       "module or use --no-ipsec")
    return _probe_kernel(f"{prefix}-kprobe")


def _probe_kernel(scratch: str) -> str:
    """Try veth, bridge and VXLAN (needed) and GRE (preferred) in a scratch namespace."""
    ip(None, "netns", "del", scratch, check=False)
    if ip(None, "netns", "add", scratch, check=False).returncode != 0:
        raise LabError("cannot create network namespaces: the kernel needs CONFIG_NET_NS")
    try:
        for kind, args in (("veth", ["type", "veth", "peer", "name", "p1"]),
                           ("bridge", ["type", "bridge"]),
                           ("vxlan", ["type", "vxlan", "id", "1", "local", "127.0.0.1",
                                      "remote", "127.0.0.2", "dstport", "4789"])):
            if ip(scratch, "link", "add", f"k{kind}", *args, check=False).returncode != 0:
                raise LabError(f"the kernel lacks {kind} interfaces, which the lab needs")
        gre = ip(scratch, "link", "add", "kgre", "type", "gre", "local", "127.0.0.1",
                 "remote", "127.0.0.2", check=False).returncode == 0
        return "gre" if gre else "vxlan"
    finally:
        ip(None, "netns", "del", scratch, check=False)


def check_prefix(prefix: str) -> None:
    # Root-side link names are PREFIX-mgN and must fit in 15 characters.
    if not prefix or len(prefix) > 10 or not prefix.replace("_", "").isalnum() \
            or not prefix[0].isalpha():
        raise LabError(f"bad lab prefix {prefix!r}: 1-10 letters/digits, starting with a letter")
