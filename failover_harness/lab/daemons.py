"""The lab's processes: charon (IPsec), FRR, the on-prem routers' sshd, the VM's services and
the Azure emulator; each recorded in the state as it starts (procs.spawn)."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import sys
from pathlib import Path

from failover_harness.errors import LabError
from failover_harness.lab import procs, render
from failover_harness.lab.build_context import BuildContext
from failover_harness.lab.host import CHARON, FRR_BIN, as_host, run, system_python3, wait_for
from failover_harness.lab.state import EmulatorState
from failover_harness.lab.topology import VM_REFLECTOR_PORT, VM_TCP_PORTS, VM_UDP_PORTS

SSH_USER = "netops"
SSH_UID = 64010  # the lab user exists only in the sshd's private /etc/passwd
EMULATOR_MODULE = "failover_harness.lab.azure_emulator"
REFLECTOR_MODULE = "failover_harness.probes.reflector"  # run as a file, as on a real VM
DEFAULT_PREFIX = "fh"
DEFAULT_EMULATOR_PORTS = (18443, 18444)  # ARM (HTTPS), managed identity (HTTP, as App Service)


# -- IPsec: one charon per router, userspace ESP (kernel-libipsec) over a TUN device
def ipsec(ctx: BuildContext) -> None:
    psk = secrets.token_urlsafe(24)
    (ctx.run_dir / "secrets").mkdir(mode=0o700, exist_ok=True)
    ipsec_routers = sorted({t.onprem_router for t in ctx.topo.tunnels} |
                           {r for t in ctx.topo.tunnels for r in t.azure_routers})
    # Azure ends first, so the on-prem initiators find their responders listening.
    ipsec_routers.sort(key=lambda r: not r.startswith("gw"))
    for router in ipsec_routers:
        conf_dir = ctx.run_dir / "ipsec" / router
        conf_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(conf_dir, 0o700)
        inside = "/etc/swanctl"  # the dir as charon sees it in its mount namespace
        (conf_dir / "strongswan.conf").write_text(render.strongswan_conf(inside))
        swanctl = conf_dir / "swanctl.conf"
        swanctl.write_text(render.swanctl_conf(ctx.topo, router, psk))
        os.chmod(swanctl, 0o600)
        script = (f"mount --bind {conf_dir} {inside} && mount -t tmpfs tmpfs /run && "
                  f"STRONGSWAN_CONF={inside}/strongswan.conf exec {CHARON}")
        procs.spawn(ctx.state, f"{router}/charon",
                    ["ip", "netns", "exec", ctx.ns(router), "unshare", "-m",
                     "--propagation", "private", "sh", "-c", script],
                    conf_dir / "charon.out", netns=ctx.ns(router))
        vici = conf_dir / "charon.vici"
        wait_for(vici.exists, 10, f"charon of {router} did not open {vici}")
        # The socket file appears before charon listens on it: retry a refused load.
        load = ["swanctl", "--load-all", "--file", str(swanctl), "--uri", f"unix://{vici}"]
        wait_for(lambda load=load: run(load, check=False).returncode == 0, 10,
                 f"swanctl could not load {router}'s connections into charon")


# -- FRR: zebra first, then the others, then the integrated config through vtysh
def frr(ctx: BuildContext, router: str) -> None:
    r = ctx.topo.router(router)
    ns = ctx.ns(router)
    frr_dir = ctx.run_dir / "frr" / router
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
        procs.spawn(ctx.state, f"{router}/{daemon}", argv, frr_dir / f"{daemon}.out",
                    netns=ns)
        vty = frr_dir / f"{daemon}.vty"
        wait_for(vty.exists, 10, f"{router}/{daemon} did not open {vty}")
        if daemon == "zebra":
            api = frr_dir / "zserv.api"
            wait_for(api.exists, 10, f"{router}/zebra did not open {api}")
    run(as_host(router, ["vtysh", "--vty_socket", str(frr_dir), "--config_dir",
                          str(frr_dir), "-b"]))


# -- the on-prem router as an SSH device whose login shell is vtysh
def sshd(ctx: BuildContext, edge: str) -> None:
    ssh_dir = ctx.run_dir / "ssh" / edge
    ssh_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir = ctx.run_dir / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    password = secrets.token_urlsafe(18)
    pw_file = secrets_dir / f"{edge}.password"
    pw_file.touch(mode=0o600)
    pw_file.write_text(password + "\n")
    key = ssh_dir / "host_ed25519_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{ctx.prefix}-{edge}",
          "-f", str(key)])
    mgmt_ip = ctx.topo.router(edge).mgmt_ip
    assert mgmt_ip is not None
    pub = (ssh_dir / "host_ed25519_key.pub").read_text().split()
    known = ctx.run_dir / "ssh" / "known_hosts"
    with open(known, "a") as out:
        out.write(f"{mgmt_ip} {pub[0]} {pub[1]}\n")
    frrvty_gid = int(run(["getent", "group", "frrvty"]).stdout.split(":")[2])
    (ssh_dir / "passwd").write_text(
        Path("/etc/passwd").read_text()
        + render.passwd_line(SSH_USER, SSH_UID, frrvty_gid, "/tmp", "/usr/bin/vtysh"))
    hashed = run(["openssl", "passwd", "-6", "-stdin"], input=password).stdout.strip()
    shadow = ssh_dir / "shadow"
    shadow.touch(mode=0o600)
    shadow.write_text(Path("/etc/shadow").read_text()
                      + f"{SSH_USER}:{hashed}:19000:0:99999:7:::\n")
    (ssh_dir / "group").write_text(
        render.group_with_member(Path("/etc/group").read_text(), "frrvty", SSH_USER))
    inside = "/etc/ssh"
    (ssh_dir / "sshd_config").write_text(render.sshd_config(mgmt_ip, inside, SSH_USER))
    frr_dir = ctx.run_dir / "frr" / edge
    script = " && ".join([
        f"mount --bind {frr_dir} /etc/frr",
        f"mount --bind {ssh_dir} {inside}",
        *(f"mount --bind {ssh_dir / f} /etc/{f}" for f in ("passwd", "shadow", "group")),
        "mount -t tmpfs tmpfs /run",
        "mkdir -p /run/frr /run/sshd",
        "mount --bind /etc/frr /run/frr",
        f"hostname {edge}",
        f"exec /usr/sbin/sshd -D -f {inside}/sshd_config -E {inside}/sshd.log"])
    procs.spawn(ctx.state, f"{edge}/sshd",
                ["ip", "netns", "exec", ctx.ns(edge), "unshare", "-m", "-u",
                 "--propagation", "private", "sh", "-c", script],
                ssh_dir / "sshd.out", netns=ctx.ns(edge))
    pidfile = ssh_dir / "sshd.pid"
    wait_for(lambda: pidfile.exists(), 10, f"sshd of {edge} did not start: see {ssh_dir}")


def vm_service(ctx: BuildContext) -> None:
    argv = ["ip", "netns", "exec", ctx.ns("vm"), sys.executable, "-m",
            "failover_harness.lab.vm_service"]
    for port in VM_TCP_PORTS:
        argv += ["--tcp", str(port)]
    for port in VM_UDP_PORTS:
        argv += ["--udp", str(port)]
    procs.spawn(ctx.state, "vm/service", argv, ctx.run_dir / "vm-service.log",
                netns=ctx.ns("vm"))
    # The UDP probes' reflector as a user would run it on an Azure VM: the file alone,
    # an isolated interpreter (standard library only), no root.
    spec = importlib.util.find_spec(REFLECTOR_MODULE)
    if spec is None or spec.origin is None:
        raise LabError(f"{REFLECTOR_MODULE} is missing: reinstall failover-harness")
    copy = ctx.run_dir / "vm" / "reflector.py"
    copy.parent.mkdir(mode=0o755, exist_ok=True)
    shutil.copyfile(spec.origin, copy)
    copy.chmod(0o644)
    procs.spawn(ctx.state, "vm/reflector",
                ["ip", "netns", "exec", ctx.ns("vm"), "setpriv", "--reuid=nobody",
                 "--regid=nogroup", "--clear-groups", system_python3(), "-I", "-S", str(copy),
                 "--port", str(VM_REFLECTOR_PORT)],
                ctx.run_dir / "vm-reflector.log", netns=ctx.ns("vm"))


def emulator(ctx: BuildContext) -> None:
    if not ctx.options.emulator or importlib.util.find_spec(EMULATOR_MODULE) is None:
        return
    # The default lab has fixed ports, so that inventories/lab.yaml describes it;
    # labs side by side take free ones.
    port, identity_port = DEFAULT_EMULATOR_PORTS if ctx.prefix == DEFAULT_PREFIX else (0, 0)
    endpoint = ctx.run_dir / "azure" / "endpoint.json"
    argv = [sys.executable, "-m", EMULATOR_MODULE, "--lab-dir", str(ctx.run_dir),
            "--port", str(port), "--identity-port", str(identity_port)]
    latency = {k: v for k, v in (("lro_latency_s", ctx.options.azure_lro_latency_s),
                                 ("lro_jitter_s", ctx.options.azure_lro_jitter_s)) if v is not None}
    if latency:  # EmulatorSettings fields; the rest keep the emulator's defaults
        settings = ctx.run_dir / "azure-emulator-settings.json"
        settings.write_text(json.dumps(latency))
        argv += ["--settings", str(settings)]
    procs.spawn(ctx.state, "azure-emulator", argv, ctx.run_dir / "azure-emulator.log")
    wait_for(lambda: endpoint.exists(), 15,
             f"the Azure emulator did not write {endpoint}: see "
             f"{ctx.run_dir / 'azure-emulator.log'}")
    ctx.state.emulator = EmulatorState.model_validate(json.loads(endpoint.read_text()))
    ctx.state.save()


def write_inventory(ctx: BuildContext) -> None:
    from failover_harness.lab.inventory import render_inventory

    path = ctx.run_dir / "inventory.yaml"
    path.write_text(render_inventory(ctx.state))
    ctx.state.inventory = str(path)
