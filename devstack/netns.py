"""Hosts of a test's own making: Linux network namespaces on one bridge (root only).

Each Host is a namespace with one veth link into the bridge `shop-br0` and an address in
SUBNET; the machine's own namespace gets GATEWAY_ADDRESS on the bridge, so that a test
reaches every host, and nothing else is routed. A host's processes run under
`ip netns exec`, which execs them: their PIDs are the test's to stop. `/etc/netns/<ns>/`
gives each host its own /etc/hosts, naming every host of the network.

`Network.remove()` deletes every namespace, link and file it made (and `remove_leftovers`
those of an earlier run that was killed): nothing outlives the test.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "shopns-"  # every namespace, link and /etc/netns folder made here starts so
BRIDGE = "shopns-br0"
SUBNET = ipaddress.IPv4Network("10.213.77.0/24")
GATEWAY_ADDRESS = SUBNET.network_address + 1
NETNS_ETC = Path("/etc/netns")


class NetnsUnavailable(RuntimeError):
    """Not root, or no `ip` with namespaces: say so, and let the caller skip."""


def ip(*args: str, namespace: str | None = None) -> None:
    argv = ["ip", *args] if namespace is None else ["ip", "-n", namespace, *args]
    subprocess.run(argv, check=True, capture_output=True, text=True)


def can_make_namespaces() -> str | None:
    """Why this machine cannot, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (run make cluster-test as root)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    return None


@dataclass
class Host:
    name: str
    address: ipaddress.IPv4Address
    namespace: str = field(init=False)
    link: str = field(init=False)

    def __post_init__(self) -> None:
        self.namespace = PREFIX + self.name
        self.link = f"{PREFIX[:-1]}{int(self.address) & 0xff}"  # its end on the bridge

    def argv(self, *command: str) -> list[str]:
        """A command run in this host's namespace (exec'd: the PID is the command's)."""
        return ["ip", "netns", "exec", self.namespace, *command]

    def cut_off(self) -> None:
        """Its link down: a partition of this host from all the others."""
        ip("link", "set", self.link, "down")

    def reconnect(self) -> None:
        ip("link", "set", self.link, "up")


class Network:
    def __init__(self, hosts: dict[str, int]) -> None:
        """hosts: name -> the last byte of its address in SUBNET."""
        self.hosts = {name: Host(name, SUBNET.network_address + last)
                      for name, last in hosts.items()}

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def create(self) -> None:
        why = can_make_namespaces()
        if why:
            raise NetnsUnavailable(why)
        remove_leftovers()
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{GATEWAY_ADDRESS}/{SUBNET.prefixlen}", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        hosts_file = "".join(f"{host.address} {host.name}\n" for host in self.hosts.values())
        for host in self.hosts.values():
            ip("netns", "add", host.namespace)
            inner = host.link + "i"
            ip("link", "add", host.link, "type", "veth", "peer", "name", inner)
            ip("link", "set", inner, "netns", host.namespace)
            ip("link", "set", host.link, "master", BRIDGE)
            ip("link", "set", host.link, "up")
            ip("addr", "add", f"{host.address}/{SUBNET.prefixlen}", "dev", inner,
               namespace=host.namespace)
            ip("link", "set", inner, "up", namespace=host.namespace)
            ip("link", "set", "lo", "up", namespace=host.namespace)
            etc = NETNS_ETC / host.namespace
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(f"127.0.0.1 localhost\n{hosts_file}")

    def remove(self) -> None:
        remove_leftovers()


def remove_leftovers() -> None:
    """Every namespace, link and /etc/netns folder named with PREFIX (this run's or a
    killed run's); a namespace goes with the veth ends inside it."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(PREFIX[:-1]):
            subprocess.run(["ip", "link", "delete", name], capture_output=True)
    if NETNS_ETC.exists():
        for folder in NETNS_ETC.glob(PREFIX + "*"):
            shutil.rmtree(folder, ignore_errors=True)
        if not any(NETNS_ETC.iterdir()):
            NETNS_ETC.rmdir()
