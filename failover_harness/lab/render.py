"""Every config file the lab writes, rendered from the topology (one template per file kind).

Pure functions: data in, text out. Paths given to the strongSwan and sshd renderers are the
ones those daemons see inside their private mount namespaces.
"""

from __future__ import annotations

import jinja2

from failover_harness.lab.topology import BFD_INTERVAL_MS, BFD_MULTIPLIER, Router, Topology, Tunnel

_env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                          lstrip_blocks=True, keep_trailing_newline=True)

_FRR = _env.from_string("""\
frr defaults traditional
hostname {{ r.name }}
log file {{ log_file }}
log timestamp precision 3
service integrated-vtysh-config
bgp route-map delay-timer 0
!
{% for s in r.static_routes %}
ip route {{ s.prefix }} {{ s.via }}
{% endfor %}
{% for m in r.route_maps %}
{% if m.deny_prefix %}
ip prefix-list {{ m.name }}-DENY seq 5 permit {{ m.deny_prefix }} le 32
route-map {{ m.name }} deny 10
 match ip address prefix-list {{ m.name }}-DENY
exit
route-map {{ m.name }} permit 20
exit
{% else %}
route-map {{ m.name }} permit 10
{% if m.prepend %}
 set as-path prepend {{ m.prepend | join(' ') }}
{% endif %}
{% if m.local_preference is not none %}
 set local-preference {{ m.local_preference }}
{% endif %}
exit
{% endif %}
{% endfor %}
{% if r.bfd %}
bfd
 profile lab
  detect-multiplier {{ bfd_multiplier }}
  receive-interval {{ bfd_interval }}
  transmit-interval {{ bfd_interval }}
 exit
exit
{% endif %}
!
router bgp {{ r.asn }}
 bgp router-id {{ r.router_id }}
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp log-neighbor-changes
{% for n in r.neighbors %}
 neighbor {{ n.address }} remote-as {{ n.remote_as }}
 neighbor {{ n.address }} description {{ n.description }}
 neighbor {{ n.address }} timers {{ n.keepalive }} {{ n.hold }}
 neighbor {{ n.address }} timers connect 1
{% if n.shutdown %}
 neighbor {{ n.address }} shutdown
{% endif %}
{% if n.bfd %}
 neighbor {{ n.address }} bfd profile lab
{% endif %}
{% endfor %}
 address-family ipv4 unicast
{% for net in r.networks %}
  network {{ net }}
{% endfor %}
{% if r.maximum_paths > 1 %}
  maximum-paths {{ r.maximum_paths }}
{% endif %}
{% if r.maximum_paths_ibgp > 1 %}
  maximum-paths ibgp {{ r.maximum_paths_ibgp }}
{% endif %}
{% for n in r.neighbors %}
{% if n.next_hop_self %}
  neighbor {{ n.address }} next-hop-self
{% endif %}
{% if n.route_map_in %}
  neighbor {{ n.address }} route-map {{ n.route_map_in }} in
{% endif %}
{% if n.route_map_out %}
  neighbor {{ n.address }} route-map {{ n.route_map_out }} out
{% endif %}
{% endfor %}
 exit-address-family
exit
!
line vty
!
""")

_VTYSH = """\
service integrated-vtysh-config
username {user} nopassword
"""

_STRONGSWAN = _env.from_string("""\
charon {
  load = random nonce aes sha1 sha2 hmac gcm openssl gmp pem pkcs1 x509 pubkey kdf \
kernel-libipsec kernel-netlink socket-default vici
  install_routes = yes
  retransmit_timeout = {{ retransmit_timeout }}
  retransmit_base = {{ retransmit_base }}
  retransmit_tries = {{ retransmit_tries }}
  plugins {
    vici {
      socket = unix://{{ conf_dir }}/charon.vici
    }
  }
  filelog {
    lab {
      path = {{ conf_dir }}/charon.log
      time_format = %F %T
      default = 1
      ike = 1
      append = no
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
""")

_SWANCTL = _env.from_string("""\
connections {
{% for c in conns %}
  {{ c.name }} {
    version = 2
    local_addrs = {{ c.local_public }}
    remote_addrs = {{ c.remote_public }}
    proposals = aes256gcm16-prfsha256-modp2048
    encap = yes
    mobike = no
    dpd_delay = 2s
    rekey_time = 1h
    keyingtries = {{ c.keyingtries }}
    local {
      auth = psk
      id = {{ c.local_public }}
    }
    remote {
      auth = psk
      id = {{ c.remote_public }}
    }
    children {
      {{ c.name }} {
        local_ts = {{ c.local_inner }}/32
        remote_ts = {{ c.remote_inner }}/32
        esp_proposals = aes256gcm16-modp2048
        mode = tunnel
        start_action = {{ c.start_action }}
        dpd_action = {{ c.dpd_action }}
      }
    }
  }
{% endfor %}
}
secrets {
{% for c in conns %}
  ike-{{ c.name }} {
    id-local = {{ c.local_public }}
    id-remote = {{ c.remote_public }}
    secret = "{{ c.psk }}"
  }
{% endfor %}
}
""")

_SSHD = _env.from_string("""\
Port 22
ListenAddress {{ address }}
HostKey {{ conf_dir }}/host_ed25519_key
PidFile {{ conf_dir }}/sshd.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
PermitRootLogin no
AllowUsers {{ user }}
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
LoginGraceTime 30
MaxStartups 50:30:100
""")


def frr_config(router: Router, log_file: str) -> str:
    return _FRR.render(r=router, log_file=log_file, bfd_interval=BFD_INTERVAL_MS,
                       bfd_multiplier=BFD_MULTIPLIER)


def vtysh_config(user: str) -> str:
    return _VTYSH.format(user=user)


# IKE retransmits (and so DPD, which is an unanswered request): 2 s x 1.8^n, 4 tries, so a
# dead peer is given up after 44.7 s, about the connections' DPD_TIMEOUT_S. A shorter one
# (it was 12 s) fails DPD after a link is back if its last try fell in the outage, and the
# rekeying it forces drops a few ms of traffic a while after the failback.
RETRANSMIT_TIMEOUT_S, RETRANSMIT_BASE, RETRANSMIT_TRIES = 2.0, 1.8, 4


def dpd_give_up_s() -> float:
    """Seconds from a DPD request to giving the peer up (strongSwan's retransmission)."""
    return sum(RETRANSMIT_TIMEOUT_S * RETRANSMIT_BASE ** n for n in range(RETRANSMIT_TRIES + 1))


def strongswan_conf(conf_dir: str) -> str:
    return _STRONGSWAN.render(conf_dir=conf_dir, retransmit_timeout=RETRANSMIT_TIMEOUT_S,
                              retransmit_base=RETRANSMIT_BASE, retransmit_tries=RETRANSMIT_TRIES)


def swanctl_conf(topology: Topology, router: str, psk: str) -> str:
    """The IKE/IPsec connections of one router: the on-prem end initiates, Azure answers
    (an active-standby gateway's standby carries the same connections, for its takeover)."""
    conns = []
    for t in topology.tunnels:
        if t.ipsec and router in (t.onprem_router, *t.azure_routers):
            conns.append(_ipsec_end(t, onprem=router == t.onprem_router, psk=psk))
    return _SWANCTL.render(conns=conns)


def _ipsec_end(t: Tunnel, onprem: bool, psk: str) -> dict[str, str]:
    local_public, remote_public = ((t.onprem_public_ip, t.azure_public_ip) if onprem
                                   else (t.azure_public_ip, t.onprem_public_ip))
    local_inner, remote_inner = t.endpoints("onprem" if onprem else "azure")
    return {"name": t.ike_name, "local_public": local_public, "remote_public": remote_public,
            "local_inner": local_inner, "remote_inner": remote_inner, "psk": psk,
            "start_action": "start" if onprem else "none",
            "dpd_action": "restart" if onprem else "clear",
            # on-prem retries for ever, as a router does: a restart while its uplink is
            # still down must not be the last try (swanctl's default is one)
            "keyingtries": "0" if onprem else "1"}


def sshd_config(address: str, conf_dir: str, user: str) -> str:
    return _SSHD.render(address=address, conf_dir=conf_dir, user=user)


def loss_ruleset(table: str, interface: str, percent: int) -> str:
    """nftables rules dropping `percent` % of packets each way through `interface`."""
    return (
        f"table inet {table} {{\n"
        f"  chain pre {{ type filter hook prerouting priority -300; policy accept;\n"
        f"    iifname \"{interface}\" numgen random mod 100 < {percent} drop\n  }}\n"
        f"  chain post {{ type filter hook postrouting priority 300; policy accept;\n"
        f"    oifname \"{interface}\" numgen random mod 100 < {percent} drop\n  }}\n"
        f"}}\n")


def passwd_line(user: str, uid: int, gid: int, home: str, shell: str) -> str:
    return f"{user}:x:{uid}:{gid}:failover-harness lab:{home}:{shell}\n"


def group_with_member(group_text: str, group: str, member: str) -> str:
    """/etc/group text with `member` added to `group`."""
    out = []
    for line in group_text.splitlines():
        fields = line.split(":")
        if len(fields) == 4 and fields[0] == group:
            members = [m for m in fields[3].split(",") if m]
            if member not in members:
                members.append(member)
            fields[3] = ",".join(members)
            line = ":".join(fields)
        out.append(line)
    return "\n".join(out) + "\n"
