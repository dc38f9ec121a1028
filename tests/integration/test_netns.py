"""The wiring `make cluster-test` builds its hosts with (devstack/netns.py), checked
quickly: hosts reach each other and the test by name and address, a cut link partitions
a host, and nothing is left behind."""

import subprocess
import sys
import time

import pytest

from devstack.netns import PREFIX, Network, can_make_namespaces, remove_leftovers
from tests.cluster.hosts import HOSTS

REACH = ("import socket, sys; socket.create_connection((sys.argv[1], 8080), timeout=2)"
         ".close()")


def reaches(network: Network, source: str, target: str) -> bool:
    done = subprocess.run(network[source].argv(sys.executable, "-c", REACH, target),
                          capture_output=True, timeout=10)
    return done.returncode == 0


def namespaces_and_links() -> str:
    return (subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            + subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout)


def test_the_cluster_hosts_have_addresses_and_link_names_linux_takes():
    network = Network(HOSTS)
    addresses = [host.address for host in network.hosts.values()]
    assert len(set(addresses)) == len(addresses)
    for host in network.hosts.values():
        assert len(host.link) + 1 <= 15  # the inner end adds a letter; IFNAMSIZ is 16


def test_hosts_reach_each_other_until_cut_off_and_leave_nothing_behind():
    why = can_make_namespaces()
    if why:
        pytest.skip(why)
    network = Network({"one": 201, "two": 202})
    network.create()
    server = None
    try:
        server = subprocess.Popen(network["one"].argv(
            sys.executable, "-m", "http.server", "8080", "--bind", str(network["one"].address)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not reaches(network, "two", "one"):  # by the name /etc/netns gives it
            assert time.monotonic() < deadline, "no route between the hosts"
            time.sleep(0.2)
        assert reaches(network, "two", str(network["one"].address))
        network["one"].cut_off()
        assert not reaches(network, "two", "one")
        network["one"].reconnect()
        assert reaches(network, "two", "one")
    finally:
        if server is not None:
            server.kill()
            server.wait()
        network.remove()
    assert PREFIX.rstrip("-") not in namespaces_and_links()
    remove_leftovers()  # idempotent
