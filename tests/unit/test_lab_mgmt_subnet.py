"""Management subnet choice (pure) and route parsing."""

from __future__ import annotations

import ipaddress

from failover_harness.lab.mgmt_subnet import choose_subnets, overlaps_any, parse_routes

net = ipaddress.IPv4Network


def test_default_prefix_gets_the_inventory_subnet() -> None:
    assert choose_subnets("fh", 1, [net("192.0.2.0/24")]) == [net("198.18.255.0/30")]
    assert choose_subnets("fh", 2, []) == [net("198.18.255.0/30"), net("198.18.255.4/30")]


def test_taken_subnets_are_skipped() -> None:
    taken = [net("198.18.255.0/30"), net("198.18.255.4/31")]
    assert choose_subnets("fh", 1, taken) == [net("198.18.255.8/30")]


def test_other_prefixes_spread_and_avoid_overlap() -> None:
    a = choose_subnets("fht123", 1, [])[0]
    b = choose_subnets("fht124", 1, [a])[0]
    assert a != b and not a.overlaps(b)
    assert a.subnet_of(net("198.18.0.0/15")) and b.subnet_of(net("198.18.0.0/15"))
    covering = net("198.18.0.0/16")
    c = choose_subnets("fht125", 1, [covering])[0]
    assert not c.overlaps(covering)


def test_default_route_does_not_block_and_overlap_is_reported() -> None:
    assert overlaps_any(net("198.18.255.0/30"), [net("0.0.0.0/0")]) is None
    assert overlaps_any(net("198.18.255.0/30"), [net("198.18.0.0/15")]) == net("198.18.0.0/15")


def test_parse_routes_from_ip_json() -> None:
    text = ('[{"dst":"default","gateway":"192.0.2.1"},{"dst":"192.0.2.0/24"},'
            '{"type":"local","dst":"127.0.0.1","table":"local"},{"dst":"fe80::/64"}]')
    assert parse_routes(text) == [net("192.0.2.0/24"), net("127.0.0.1/32")]
