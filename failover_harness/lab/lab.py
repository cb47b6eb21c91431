"""Bring the lab up and down (the I/O layer over topology.py and render.py).

`up(prefix, options)` builds namespaces, links, tunnels, IPsec, FRR routers, the SSH-managed
on-prem router, the VM service and (when present) the Azure emulator, recording every step in
RUN_DIR/lab.json first, so that `down(prefix)` can undo a half-built lab after a crash.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from failover_harness.errors import LabError
from failover_harness.lab import procs, render
from failover_harness.lab.mgmt_subnet import allocation_lock, choose_subnets, host_routes, overlaps_any
from failover_harness.lab.state import (
    DEFAULT_RUN_ROOT,
    AzureInstanceState,
    EmulatorState,
    LabState,
    RouterState,
    TunnelState,
    run_dir_for,
)
from failover_harness.lab.topology import (
    TUNNEL_MTU,
    VM_REFLECTOR_PORT,
    VM_TCP_PORTS,
    VM_UDP_PORTS,
    LabOptions,
    Topology,
    build_topology,
    mgmt_pair,
    onprem_edges,
)

FRR_BIN = Path("/usr/lib/frr")
CHARON = Path("/usr/lib/ipsec/charon")
SSH_USER = "netops"
SSH_UID = 64010  # the lab user exists only in the sshd's private /etc/passwd
EMULATOR_MODULE = "failover_harness.lab.azure_emulator"
REFLECTOR_MODULE = "failover_harness.probes.reflector"  # run as a file, as on a real VM
DEFAULT_PREFIX = "fh"
DEFAULT_EMULATOR_PORTS = (18443, 18444)  # ARM (HTTPS), managed identity (HTTP, as App Service)
ESTABLISH_TIMEOUT_S = 45.0


def netns_name(prefix: str, node: str) -> str:
    return f"{prefix}-{node}"


def _run(argv: list[str], *, input: str | None = None, check: bool = True,
         timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def as_host(hostname: str, argv: list[str]) -> list[str]:
    """argv run in a UTS namespace of its own named `hostname`. FRR daemons and vtysh each
    print their own host name into the running config (and `write memory` saves it), so
    one run in the machine's UTS namespace adds the machine's name to the router's config."""
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0"; exec "$@"', hostname, *argv]


def vtysh_argv(state: LabState, router: str, *args: str) -> list[str]:
    """vtysh on one lab router, as that router (see as_host)."""
    return as_host(router, ["vtysh", "--vty_socket", state.routers[router].frr_dir, *args])


def _ip(netns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ip", *(["-n", netns] if netns else []), *args], check=check)


def _nsexec(netns: str, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ip", "netns", "exec", netns, *argv], check=check)


# ---------------------------------------------------------------------------- preflight

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
    _ip(None, "netns", "del", scratch, check=False)
    if _ip(None, "netns", "add", scratch, check=False).returncode != 0:
        raise LabError("cannot create network namespaces: the kernel needs CONFIG_NET_NS")
    try:
        for kind, args in (("veth", ["type", "veth", "peer", "name", "p1"]),
                           ("bridge", ["type", "bridge"]),
                           ("vxlan", ["type", "vxlan", "id", "1", "local", "127.0.0.1",
                                      "remote", "127.0.0.2", "dstport", "4789"])):
            if _ip(scratch, "link", "add", f"k{kind}", *args, check=False).returncode != 0:
                raise LabError(f"the kernel lacks {kind} interfaces, which the lab needs")
        gre = _ip(scratch, "link", "add", "kgre", "type", "gre", "local", "127.0.0.1",
                  "remote", "127.0.0.2", check=False).returncode == 0
        return "gre" if gre else "vxlan"
    finally:
        _ip(None, "netns", "del", scratch, check=False)


# ---------------------------------------------------------------------------- up

def is_present(prefix: str, root: Path = DEFAULT_RUN_ROOT) -> bool:
    return (run_dir_for(prefix, root) / "lab.json").exists() or bool(_lab_namespaces(prefix))


def up(prefix: str, options: LabOptions | None = None, root: Path = DEFAULT_RUN_ROOT) -> LabState:
    options = options or LabOptions()
    _check_prefix(prefix)
    tunnel_kind = preflight(prefix, options)
    if is_present(prefix, root):
        raise LabError(f"lab {prefix!r} is already up (or left over): see `failover-harness lab "
                       f"status --prefix {prefix}`, or `failover-harness lab down --prefix "
                       f"{prefix}` first")
    run_dir = run_dir_for(prefix, root)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = LabState(prefix=prefix, run_dir=str(run_dir),
                     options={**options.model_dump(mode="json"), "tunnel_kind": tunnel_kind,
                              # ESP in userspace over TUN: this kernel class has no ESP/XFRM
                              # interfaces; the same configs run where it has.
                              "ipsec_backend": "kernel-libipsec" if options.ipsec else None})
    state.save()
    try:
        _Builder(state, options, tunnel_kind, root).build()
    except BaseException as exc:
        down(prefix, root)
        if isinstance(exc, LabError):
            raise
        if isinstance(exc, Exception):
            raise LabError(f"lab {prefix!r} failed to come up (removed again): {exc}") from exc
        raise
    return state


def _check_prefix(prefix: str) -> None:
    # Root-side link names are PREFIX-mgN and must fit in 15 characters.
    if not prefix or len(prefix) > 10 or not prefix.replace("_", "").isalnum() \
            or not prefix[0].isalpha():
        raise LabError(f"bad lab prefix {prefix!r}: 1-10 letters/digits, starting with a letter")


class _Builder:
    def __init__(self, state: LabState, options: LabOptions, tunnel_kind: str,
                 root: Path) -> None:
        self.state, self.options, self.tunnel_kind, self.root = state, options, tunnel_kind, root
        self.run_dir = Path(state.run_dir)
        self.prefix = state.prefix
        self.topology: Topology | None = None

    def ns(self, node: str) -> str:
        return netns_name(self.prefix, node)

    @property
    def topo(self) -> Topology:
        assert self.topology is not None
        return self.topology

    def build(self) -> None:
        phases: dict[str, float] = {}
        t0 = last = time.monotonic()

        def mark(phase: str) -> None:
            nonlocal last
            now = time.monotonic()
            phases[phase] = round(now - last, 3)
            last = now

        self._namespaces_and_mgmt()
        self._links()
        mark("namespaces_links")
        if self.options.ipsec:
            self._ipsec()
            mark("ipsec")
        self._tunnels()
        self._loss()
        for router in self.topo.routers:
            self._frr(router.name)
        mark("frr")
        for edge in onprem_edges(self.options):
            self._sshd(edge)
        self._vm_service()
        for router in self.topo.routers:
            # bgpd backs off after the refusals of a start in sequence; one clear resets that.
            vtysh(self.state, router.name, "clear bgp *")
        mark("sshd_vm")
        self._emulator()
        mark("emulator")
        wait_established(self.state, ESTABLISH_TIMEOUT_S)
        self._spread_ecmp()
        mark("bgp_established")
        self._inventory()
        self.state.options["up_seconds"] = round(time.monotonic() - t0, 3)
        self.state.options["up_phases"] = phases
        self.state.complete = True
        self.state.save()

    # -- namespaces, management link, addresses
    def _namespaces_and_mgmt(self) -> None:
        edges = onprem_edges(self.options)
        with allocation_lock(self.root):
            taken = host_routes()
            subnets: dict[str, str] = {}
            if self.options.mgmt_subnet:
                wanted = ipaddress.ip_network(self.options.mgmt_subnet)
                clash = overlaps_any(wanted, taken)  # type: ignore[arg-type]
                if clash is not None:
                    raise LabError(f"management subnet {wanted} overlaps the host route {clash}: "
                                   "pick another /30 (or leave it out to get a free one)")
                subnets[edges[0]] = str(wanted)
                taken.append(wanted)  # type: ignore[arg-type]
            rest = [e for e in edges if e not in subnets]
            try:
                for edge, net in zip(rest, choose_subnets(self.prefix, len(rest), taken), strict=True):
                    subnets[edge] = str(net)
            except LookupError as exc:
                raise LabError(f"{exc}: bring other labs down first") from exc
            self.topology = build_topology(self.options, subnets)
            self._record_topology()
            for node in self.topo.nodes:
                _ip(None, "netns", "add", self.ns(node.name))
                _ip(self.ns(node.name), "link", "set", "lo", "up")
            for index, edge in enumerate(edges, start=1):
                root_if = f"{self.prefix}-mg{index}"
                root_addr, router_addr = mgmt_pair(subnets[edge])
                _ip(None, "link", "add", root_if, "type", "veth", "peer", "name", "mgmt0",
                    "netns", self.ns(edge))
                _ip(None, "addr", "add", root_addr, "dev", root_if)
                _ip(None, "link", "set", root_if, "up")
                _ip(self.ns(edge), "addr", "add", router_addr, "dev", "mgmt0")
                _ip(self.ns(edge), "link", "set", "mgmt0", "up")

    def _record_topology(self) -> None:
        s, topo = self.state, self.topo
        s.namespaces = [self.ns(n.name) for n in topo.nodes]
        s.root_links = [f"{self.prefix}-mg{i}" for i, _ in enumerate(onprem_edges(self.options), 1)]
        s.host_netns, s.vm_netns = self.ns("host"), self.ns("vm")
        s.host_ips, s.vm_ip = list(topo.host_ips), topo.vm_ip
        s.vm_tcp_ports = list(VM_TCP_PORTS)
        s.vm_reflector_port = VM_REFLECTOR_PORT
        s.mgmt = {r.name: r.mgmt_ip for r in topo.routers if r.mgmt_ip}
        for r in topo.routers:
            s.routers[r.name] = RouterState(
                name=r.name, netns=self.ns(r.name), role=r.role, asn=r.asn,
                frr_dir=str(self.run_dir / "frr" / r.name), router_id=r.router_id,
                vici_socket=(str(self.run_dir / "ipsec" / r.name / "charon.vici")
                             if self.options.ipsec and r.role != "vnet" else None))
        s.tunnels = [TunnelState(
            name=t.name, onprem_router=t.onprem_router, onprem_interface=t.onprem_interface,
            onprem_bgp_ip=t.onprem_bgp_ip, onprem_public_ip=t.onprem_public_ip,
            azure_instance=t.azure_instance, azure_interface=t.azure_interface,
            azure_bgp_ip=t.azure_bgp_ip, azure_public_ip=t.azure_public_ip, ipsec=t.ipsec,
            ike_name=t.ike_name if t.ipsec else None, connection=t.connection,
            local_network_gateway=t.local_network_gateway) for t in topo.tunnels]
        s.azure.instances = [AzureInstanceState(**i.model_dump()) for i in topo.instances]
        s.save()

    def _links(self) -> None:
        topo = self.topo
        for node in topo.nodes:
            ns = self.ns(node.name)
            for br in node.bridges:
                _ip(ns, "link", "add", br.name, "type", "bridge")
                for addr in br.addresses:
                    _ip(ns, "addr", "add", addr, "dev", br.name)
                _ip(ns, "link", "set", br.name, "up")
            for addr in node.loopback:
                _ip(ns, "addr", "add", f"{addr}/32", "dev", "lo")
            sysctls = ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
            if node.forwarding:
                sysctls.append("net.ipv4.ip_forward=1")
            if node.l4_multipath_hash:
                # Hash ECMP on the 5-tuple, as Azure's SDN and real routers do. Policy 1 would
                # reuse the sender socket's random hash (carried across veth), so every new TCP
                # connection, even on the same 5-tuple, would take a random path. Policy 3 with
                # fields src|dst|proto|sport|dport computes the hash from the headers.
                if Path("/proc/sys/net/ipv4/fib_multipath_hash_fields").exists():
                    sysctls += ["net.ipv4.fib_multipath_hash_policy=3",
                                "net.ipv4.fib_multipath_hash_fields=0x0037"]
                else:  # kernels before 5.12
                    sysctls.append("net.ipv4.fib_multipath_hash_policy=1")
            _nsexec(ns, ["sysctl", "-q", "-w", *sysctls])
        for link in topo.links:
            a_ns, b_ns = self.ns(link.a.node), self.ns(link.b.node)
            _ip(a_ns, "link", "add", link.a.interface.name, "type", "veth", "peer", "name",
                link.b.interface.name, "netns", b_ns)
            for ns, end in ((a_ns, link.a), (b_ns, link.b)):
                for addr in end.interface.addresses:
                    _ip(ns, "addr", "add", addr, "dev", end.interface.name)
                if end.interface.bridge:
                    _ip(ns, "link", "set", end.interface.name, "master", end.interface.bridge)
                _ip(ns, "link", "set", end.interface.name, "up")
        for node in topo.nodes:
            for route in node.routes:
                _ip(self.ns(node.name), "route", "add", route.prefix, "via", route.via)

    # -- IPsec: one charon per router, userspace ESP (kernel-libipsec) over a TUN device
    def _ipsec(self) -> None:
        psk = secrets.token_urlsafe(24)
        (self.run_dir / "secrets").mkdir(mode=0o700, exist_ok=True)
        ipsec_routers = sorted({t.onprem_router for t in self.topo.tunnels} |
                               {t.azure_router for t in self.topo.tunnels})
        # Azure ends first, so the on-prem initiators find their responders listening.
        ipsec_routers.sort(key=lambda r: not r.startswith("gw"))
        for router in ipsec_routers:
            conf_dir = self.run_dir / "ipsec" / router
            conf_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(conf_dir, 0o700)
            inside = "/etc/swanctl"  # the dir as charon sees it in its mount namespace
            (conf_dir / "strongswan.conf").write_text(render.strongswan_conf(inside))
            swanctl = conf_dir / "swanctl.conf"
            swanctl.write_text(render.swanctl_conf(self.topo, router, psk))
            os.chmod(swanctl, 0o600)
            script = (f"mount --bind {conf_dir} {inside} && mount -t tmpfs tmpfs /run && "
                      f"STRONGSWAN_CONF={inside}/strongswan.conf exec {CHARON}")
            procs.spawn(self.state, f"{router}/charon",
                        ["ip", "netns", "exec", self.ns(router), "unshare", "-m",
                         "--propagation", "private", "sh", "-c", script],
                        conf_dir / "charon.out", netns=self.ns(router))
            vici = conf_dir / "charon.vici"
            _wait_for(vici.exists, 10, f"charon of {router} did not open {vici}")
            # The socket file appears before charon listens on it: retry a refused load.
            load = ["swanctl", "--load-all", "--file", str(swanctl), "--uri", f"unix://{vici}"]
            _wait_for(lambda load=load: _run(load, check=False).returncode == 0, 10,
                      f"swanctl could not load {router}'s connections into charon")

    def _tunnels(self) -> None:
        for t in self.topo.tunnels:
            for side, router, ifname in (("onprem", t.onprem_router, t.onprem_interface),
                                         ("azure", t.azure_router, t.azure_interface)):
                local, remote = t.endpoints(side)  # type: ignore[arg-type]
                ns = self.ns(router)
                if self.tunnel_kind == "gre":
                    _ip(ns, "link", "add", ifname, "type", "gre", "local", local, "remote",
                        remote, "ttl", "64", "key", str(t.vni))
                else:
                    _ip(ns, "link", "add", ifname, "type", "vxlan", "id", str(t.vni), "local",
                        local, "remote", remote, "dstport", "4789", "nolearning")
                _ip(ns, "link", "set", ifname, "mtu", str(TUNNEL_MTU))
                bgp_ip = t.onprem_bgp_ip if side == "onprem" else t.azure_bgp_ip
                _ip(ns, "addr", "add", f"{bgp_ip}/{t.prefixlen}", "dev", ifname)
                _ip(ns, "link", "set", ifname, "up")

    def _loss(self) -> None:
        for loss in self.options.loss:
            link = next(lk for lk in self.topo.links if lk.name == loss.link)
            rules = render.loss_ruleset("fhloss", link.a.interface.name, loss.percent)
            _run(["ip", "netns", "exec", self.ns(link.a.node), "nft", "-f", "-"], input=rules)

    # -- FRR: zebra first, then the others, then the integrated config through vtysh
    def _frr(self, router: str) -> None:
        r = self.topo.router(router)
        ns = self.ns(router)
        frr_dir = self.run_dir / "frr" / router
        frr_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(frr_dir, "frr", "frrvty")
        os.chmod(frr_dir, 0o775)
        conf = frr_dir / "frr.conf"
        conf.write_text(render.frr_config(r, str(frr_dir / "frr.log")))
        (frr_dir / "vtysh.conf").write_text(render.vtysh_config(SSH_USER))
        for path in (conf, frr_dir / "vtysh.conf"):
            shutil.chown(path, "frr", "frrvty")
            os.chmod(path, 0o664)
        daemons = ["zebra", "staticd", "bgpd"] + (["bfdd"] if r.bfd else [])
        for daemon in daemons:
            argv = ["ip", "netns", "exec", ns, *as_host(router, [
                str(FRR_BIN / daemon), "-P", "0", "-f", "/dev/null",
                "-i", str(frr_dir / f"{daemon}.pid"), "-z", str(frr_dir / "zserv.api"),
                "--vty_socket", str(frr_dir), "--log", f"file:{frr_dir / (daemon + '.log')}"])]
            if daemon == "zebra":
                argv += ["-s", "16777216"]
            if daemon == "bfdd":
                argv += ["--bfdctl", str(frr_dir / "bfdd.sock")]
            procs.spawn(self.state, f"{router}/{daemon}", argv, frr_dir / f"{daemon}.out",
                        netns=ns)
            vty = frr_dir / f"{daemon}.vty"
            _wait_for(vty.exists, 10, f"{router}/{daemon} did not open {vty}")
            if daemon == "zebra":
                api = frr_dir / "zserv.api"
                _wait_for(api.exists, 10, f"{router}/zebra did not open {api}")
        _run(as_host(router, ["vtysh", "--vty_socket", str(frr_dir), "--config_dir",
                              str(frr_dir), "-b"]))

    # -- the on-prem router as an SSH device whose login shell is vtysh
    def _sshd(self, edge: str) -> None:
        ssh_dir = self.run_dir / "ssh" / edge
        ssh_dir.mkdir(parents=True, exist_ok=True)
        secrets_dir = self.run_dir / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        password = secrets.token_urlsafe(18)
        pw_file = secrets_dir / f"{edge}.password"
        pw_file.touch(mode=0o600)
        pw_file.write_text(password + "\n")
        key = ssh_dir / "host_ed25519_key"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.prefix}-{edge}",
              "-f", str(key)])
        mgmt_ip = self.topo.router(edge).mgmt_ip
        assert mgmt_ip is not None
        pub = (ssh_dir / "host_ed25519_key.pub").read_text().split()
        known = self.run_dir / "ssh" / "known_hosts"
        with open(known, "a") as out:
            out.write(f"{mgmt_ip} {pub[0]} {pub[1]}\n")
        frrvty_gid = int(_run(["getent", "group", "frrvty"]).stdout.split(":")[2])
        (ssh_dir / "passwd").write_text(
            Path("/etc/passwd").read_text()
            + render.passwd_line(SSH_USER, SSH_UID, frrvty_gid, "/tmp", "/usr/bin/vtysh"))
        hashed = _run(["openssl", "passwd", "-6", "-stdin"], input=password).stdout.strip()
        shadow = ssh_dir / "shadow"
        shadow.touch(mode=0o600)
        shadow.write_text(Path("/etc/shadow").read_text()
                          + f"{SSH_USER}:{hashed}:19000:0:99999:7:::\n")
        (ssh_dir / "group").write_text(
            render.group_with_member(Path("/etc/group").read_text(), "frrvty", SSH_USER))
        inside = "/etc/ssh"
        (ssh_dir / "sshd_config").write_text(render.sshd_config(mgmt_ip, inside, SSH_USER))
        frr_dir = self.run_dir / "frr" / edge
        script = " && ".join([
            f"mount --bind {frr_dir} /etc/frr",
            f"mount --bind {ssh_dir} {inside}",
            *(f"mount --bind {ssh_dir / f} /etc/{f}" for f in ("passwd", "shadow", "group")),
            "mount -t tmpfs tmpfs /run",
            "mkdir -p /run/frr /run/sshd",
            "mount --bind /etc/frr /run/frr",
            f"hostname {edge}",
            f"exec /usr/sbin/sshd -D -f {inside}/sshd_config -E {inside}/sshd.log"])
        procs.spawn(self.state, f"{edge}/sshd",
                    ["ip", "netns", "exec", self.ns(edge), "unshare", "-m", "-u",
                     "--propagation", "private", "sh", "-c", script],
                    ssh_dir / "sshd.out", netns=self.ns(edge))
        pidfile = ssh_dir / "sshd.pid"
        _wait_for(lambda: pidfile.exists(), 10, f"sshd of {edge} did not start: see {ssh_dir}")

    def _vm_service(self) -> None:
        argv = ["ip", "netns", "exec", self.ns("vm"), sys.executable, "-m",
                "failover_harness.lab.vm_service"]
        for port in VM_TCP_PORTS:
            argv += ["--tcp", str(port)]
        for port in VM_UDP_PORTS:
            argv += ["--udp", str(port)]
        procs.spawn(self.state, "vm/service", argv, self.run_dir / "vm-service.log",
                    netns=self.ns("vm"))
        # The UDP probes' reflector as a user would run it on an Azure VM: the file alone,
        # an isolated interpreter (standard library only), no root.
        spec = importlib.util.find_spec(REFLECTOR_MODULE)
        if spec is None or spec.origin is None:
            raise LabError(f"{REFLECTOR_MODULE} is missing: reinstall failover-harness")
        copy = self.run_dir / "vm" / "reflector.py"
        copy.parent.mkdir(mode=0o755, exist_ok=True)
        shutil.copyfile(spec.origin, copy)
        copy.chmod(0o644)
        procs.spawn(self.state, "vm/reflector",
                    ["ip", "netns", "exec", self.ns("vm"), "setpriv", "--reuid=nobody",
                     "--regid=nogroup", "--clear-groups", system_python3(), "-I", "-S", str(copy),
                     "--port", str(VM_REFLECTOR_PORT)],
                    self.run_dir / "vm-reflector.log", netns=self.ns("vm"))

    def _spread_ecmp(self) -> None:
        """Fix the VNet's ECMP hash seed to one under which the host's probe flows use both
        gateway instances. The kernel's default seed is random per boot, and with a handful
        of sources every ICMP flow may hash onto one instance: then no flow (or every flow)
        survives a fault, on one machine and not on the next. The seed is recorded in the
        state; probe 5-tuples are those the harness builds by default (sources in turn, TCP
        source ports from 40000 to port 443,
        UDP source ports from 40000 to the reflector)."""
        if not Path("/proc/sys/net/ipv4/fib_multipath_hash_seed").exists():
            return  # kernels before 6.11: the boot's random seed it is
        if len(vnet_next_hops(self.state)) < 2 or not self.state.host_ips:
            return  # primary/backup: one path by design
        vnet = self.ns("vnet")
        vm_side = next(end.interface.name for link in self.topo.links
                       for end, other in ((link.a, link.b), (link.b, link.a))
                       if end.node == "vnet" and other.node == "vm")
        sources = self.state.host_ips

        def via(dst: str, *l4: str) -> str:
            out = _ip(vnet, "route", "get", dst, "from", self.state.vm_ip, "iif", vm_side,
                      *l4).stdout.split()
            return out[out.index("via") + 1]

        for seed in range(1, 256):
            _nsexec(vnet, ["sysctl", "-q", "-w", f"net.ipv4.fib_multipath_hash_seed={seed}"])
            icmp = [via(src, "ipproto", "icmp") for src in sources]
            tcp = [via(sources[i % len(sources)], "ipproto", "tcp", "sport", "443", "dport",
                       str(40000 + i)) for i in range(8)]
            udp = [via(sources[i % len(sources)], "ipproto", "udp", "sport",
                       str(VM_REFLECTOR_PORT), "dport", str(40000 + i)) for i in range(8)]
            if all(min(paths.count(h) for h in set(paths)) >= len(paths) // 2 - 1
                   and len(set(paths)) == 2 for paths in (icmp, tcp, udp)):
                self.state.options["ecmp_hash_seed"] = seed
                self.state.save()
                return

    def _emulator(self) -> None:
        if not self.options.emulator or importlib.util.find_spec(EMULATOR_MODULE) is None:
            return
        # The default lab has fixed ports, so that inventories/lab.yaml describes it;
        # labs side by side take free ones.
        port, identity_port = DEFAULT_EMULATOR_PORTS if self.prefix == DEFAULT_PREFIX else (0, 0)
        endpoint = self.run_dir / "azure" / "endpoint.json"
        argv = [sys.executable, "-m", EMULATOR_MODULE, "--lab-dir", str(self.run_dir),
                "--port", str(port), "--identity-port", str(identity_port)]
        latency = {k: v for k, v in (("lro_latency_s", self.options.azure_lro_latency_s),
                                     ("lro_jitter_s", self.options.azure_lro_jitter_s)) if v is not None}
        if latency:  # EmulatorSettings fields; the rest keep the emulator's defaults
            settings = self.run_dir / "azure-emulator-settings.json"
            settings.write_text(json.dumps(latency))
            argv += ["--settings", str(settings)]
        procs.spawn(self.state, "azure-emulator", argv, self.run_dir / "azure-emulator.log")
        _wait_for(lambda: endpoint.exists(), 15,
                  f"the Azure emulator did not write {endpoint}: see "
                  f"{self.run_dir / 'azure-emulator.log'}")
        self.state.emulator = EmulatorState.model_validate(json.loads(endpoint.read_text()))
        self.state.save()

    def _inventory(self) -> None:
        from failover_harness.lab.inventory import render_inventory

        path = self.run_dir / "inventory.yaml"
        path.write_text(render_inventory(self.state))
        self.state.inventory = str(path)


def system_python3() -> str:
    """The system's python3 (a venv's or pyenv's may sit where the user nobody cannot reach):
    what an Azure VM offers."""
    found = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if found is None:
        raise LabError("no system python3 (/usr/bin/python3): run scripts/install.sh")
    return found


def _wait_for(predicate: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise LabError(message)
        time.sleep(0.02)


# ---------------------------------------------------------------------------- queries

def vtysh(state: LabState, router: str, command: str) -> str:
    return _run(vtysh_argv(state, router, "-c", command)).stdout


def vtysh_json(state: LabState, router: str, command: str) -> dict[str, object]:
    out = vtysh(state, router, command)
    try:
        data = json.loads(out or "{}")
    except json.JSONDecodeError as exc:
        raise LabError(f"{router}: `{command}` gave no JSON: {out[:200]!r}") from exc
    if not isinstance(data, dict):
        raise LabError(f"{router}: `{command}` gave {type(data).__name__}, not an object")
    return data


def bgp_peers(state: LabState, router: str) -> dict[str, dict[str, object]]:
    """`show bgp summary json` peers of one router: address -> FRR's peer object."""
    summary = vtysh_json(state, router, "show bgp summary json")
    ipv4 = summary.get("ipv4Unicast", {})
    peers = ipv4.get("peers", {}) if isinstance(ipv4, dict) else {}
    return dict(peers)


def bgp_peer_states(state: LabState, router: str) -> dict[str, str]:
    return {addr: str(p.get("state")) for addr, p in bgp_peers(state, router).items()}


def _sessions_pending(state: LabState) -> dict[str, list[str]]:
    """Sessions not Established, or eBGP sessions (across a tunnel) with nothing received yet."""
    pending: dict[str, list[str]] = {}
    for name, router in state.routers.items():
        waiting = [addr for addr, p in bgp_peers(state, name).items()
                   if p.get("state") != "Established"
                   or (p.get("remoteAs") != router.asn and not p.get("pfxRcd"))]
        if waiting:
            pending[name] = waiting
    return pending


def wait_established(state: LabState, timeout: float) -> None:
    """Until every session is Established, tunnels carry routes both ways, and the VNet and
    the on-prem routers have their routes (so the lab is usable the moment `up` returns)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = _sessions_pending(state) or _routes_pending(state)
        if not pending:
            return
        if time.monotonic() > deadline:
            detail = "; ".join(f"{r}: {', '.join(p)}" for r, p in pending.items())
            raise LabError(f"BGP sessions not Established after {timeout:.0f} s ({detail}); "
                           f"logs are in {state.run_dir}/frr/*/")
        time.sleep(0.1)


def vnet_next_hops(state: LabState, prefix: str = "192.168.10.0/24") -> list[str]:
    """The VNet's active next hops towards on-prem (two under ECMP)."""
    routes = vtysh_json(state, "vnet", f"show ip route {prefix} json").get(prefix, [])
    hops: list[str] = []
    for route in routes if isinstance(routes, list) else []:
        if route.get("selected"):
            hops += [h["ip"] for h in route.get("nexthops", []) if h.get("active") and "ip" in h]
    return sorted(hops)


def _routes_pending(state: LabState) -> dict[str, list[str]]:
    """Routes still missing once sessions are up: VNet ECMP (or one path in primary/backup)
    towards on-prem, and the VNet prefix on every on-prem router."""
    pending: dict[str, list[str]] = {}
    want = 1 if state.options.get("mode") == "primary-backup" else 2
    if len(vnet_next_hops(state)) < want:
        pending["vnet"] = ["192.168.10.0/24"]
    for name, router in state.routers.items():
        if router.role == "onprem_edge" and \
                not vtysh_json(state, name, "show ip route 10.0.0.0/16 json"):
            pending[name] = ["10.0.0.0/16"]
    return pending


def load_state(prefix: str, root: Path = DEFAULT_RUN_ROOT) -> LabState:
    run_dir = run_dir_for(prefix, root)
    try:
        return LabState.load(run_dir)
    except FileNotFoundError as exc:
        raise LabError(f"no lab {prefix!r} here (no {run_dir / 'lab.json'}): "
                       f"`failover-harness lab up --prefix {prefix}`") from exc


def exec_in(prefix: str, node: str, argv: list[str],
            root: Path = DEFAULT_RUN_ROOT) -> subprocess.CompletedProcess[str]:
    """Run argv in the node's namespace (output captured)."""
    ns = netns_name(prefix, node)
    if ns not in _lab_namespaces(prefix):
        raise LabError(f"no node {node!r} in lab {prefix!r}: one of "
                       f"{', '.join(n.removeprefix(prefix + '-') for n in _lab_namespaces(prefix))}")
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True)


# ---------------------------------------------------------------------------- down

def _lab_namespaces(prefix: str) -> list[str]:
    out = _run(["ip", "-j", "netns", "list"], check=False).stdout
    names = [n["name"] for n in json.loads(out or "[]")]
    return [n for n in names if n.startswith(prefix + "-")]


def _lab_root_links(prefix: str) -> list[str]:
    out = _run(["ip", "-j", "link", "show"], check=False).stdout
    return [link["ifname"] for link in json.loads(out or "[]")
            if link["ifname"].startswith(prefix + "-")]


def down(prefix: str, root: Path = DEFAULT_RUN_ROOT) -> None:
    """Remove everything lab `prefix` made; idempotent, works from a partial or missing state."""
    _check_prefix(prefix)
    run_dir = run_dir_for(prefix, root)
    records: list[tuple[int, int]] = []
    try:
        state = LabState.load(run_dir)
        records = [(p.pid, p.start_ticks) for p in state.processes]
    except (FileNotFoundError, ValueError):
        state = None
    namespaces = _lab_namespaces(prefix)
    # Safety net for a process started but not yet recorded when `up` was killed: whatever
    # runs inside this lab's own namespaces belongs to the lab.
    for ns in namespaces:
        pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in (int(p) for p in pids):
            ticks = procs.start_ticks(pid)
            if ticks is not None and (pid, ticks) not in records:
                records.append((pid, ticks))
    procs.terminate(list(reversed(records)))
    for ns in namespaces:
        _ip(None, "netns", "del", ns, check=False)
    for link in _lab_root_links(prefix):
        _ip(None, "link", "del", link, check=False)
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
    del state
