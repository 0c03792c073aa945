"""The lab's network on this machine: the bridge in a namespace of its own, a
namespace per host with its veth on the bridge, this machine's veth into it,
and the tinyproxy through which alone the hosts reach Debian's packages.
Every address and name comes from the plan (`bizpbx_lab.plan`)."""

from __future__ import annotations

from pathlib import Path

from bizpbx_lab import proxy
from bizpbx_lab.local import STATE_DIR, run
from bizpbx_lab.plan import AddressPlan


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run(*prefix, "link", "show", name, check=False, capture=True).returncode == 0


def ensure_network(plan: AddressPlan) -> None:
    net = plan.network
    prefix = net.subnet.prefixlen
    if not netns_exists(net.lan_netns):
        run("ip", "netns", "add", net.lan_netns)
    if not link_exists(net.bridge, net.lan_netns):
        run("ip", "-n", net.lan_netns, "link", "add", net.bridge, "type", "bridge")
    run("ip", "-n", net.lan_netns, "link", "set", net.bridge, "up")
    if not link_exists(net.uplink):
        run("ip", "link", "add", net.uplink, "type", "veth", "peer", "name", "uplink", "netns", net.lan_netns)
    run("ip", "-n", net.lan_netns, "link", "set", "uplink", "master", net.bridge, "up")
    run("ip", "addr", "replace", f"{net.gateway}/{prefix}", "dev", net.uplink)
    run("ip", "link", "set", net.uplink, "up")
    for host in plan.hosts:
        if not netns_exists(host.netns):
            run("ip", "netns", "add", host.netns)
        run("ip", "-n", host.netns, "link", "set", "lo", "up")
        if not link_exists(host.port, net.lan_netns):
            if link_exists("eth0", host.netns):
                run("ip", "-n", host.netns, "link", "del", "eth0")
            run("ip", "-n", net.lan_netns, "link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        run("ip", "-n", net.lan_netns, "link", "set", host.port, "master", net.bridge, "up")
        run("ip", "-n", host.netns, "addr", "replace", f"{host.address}/{prefix}", "dev", "eth0")
        run("ip", "-n", host.netns, "link", "set", "eth0", "up")
        run("ip", "-n", host.netns, "route", "replace", "default", "via", net.void, "dev", "eth0")


def proxy_pid() -> int | None:
    return proxy.proxy_pid(STATE_DIR)


def ensure_proxy(plan: AddressPlan) -> None:
    """The lab's tinyproxy, on the lab side of this machine only, allowing only the lab hosts."""
    allowed = tuple(host.address for host in plan.hosts)
    proxy.ensure_proxy(STATE_DIR, plan.network.gateway, plan.network.proxy_port, allowed, "bizpbx lab: the only way the lab hosts reach Debian's packages.")


def remove_network(plan: AddressPlan) -> None:
    """Stop the proxy, remove this machine's veth and every namespace of the lab."""
    proxy.stop_proxy(STATE_DIR)
    net = plan.network
    if link_exists(net.uplink):
        run("ip", "link", "del", net.uplink)
    if netns_exists(net.lan_netns):
        run("ip", "netns", "del", net.lan_netns)
    for host in plan.hosts:
        if netns_exists(host.netns):
            run("ip", "netns", "del", host.netns)
