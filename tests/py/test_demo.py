"""The demo as the README starts it: its simulated PDU and UPS are reached by the
real Powerman and NUT drivers, and cycling a router's outlet reboots that router
on its console (seen through the raw TCP console port and read by OpenSSH's
neighbour, a plain socket)."""
import os
import re
import socket
import subprocess
import time

import pytest
from ncclient import manager
from ncclient.xml_ import to_ele

from conftest import LIFELINED, wait_port
from peers import wait_for

PW = "urn:lifeline:params:xml:ns:yang:lifeline-power"
P = "urn:lifeline:params:xml:ns:yang:lifeline-ports"
DEMO_PORTS = [10830, 10022, 10443, 10161, 14001, 20101, 20493]


def busy(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def demo(tmp_path):
    if any(busy(p) for p in DEMO_PORTS):
        pytest.skip("the demo's fixed ports are in use")
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([LIFELINED, "--demo"], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "demo.log", "ab"))
    try:
        wait_port(10830, proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def connect():
    return manager.connect(host="127.0.0.1", port=10830, username="admin", password="admin",
                           hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=30)


def read_until(sock, needle, timeout):
    """What the socket says until `needle` (or the timeout)."""
    seen, deadline = b"", time.time() + timeout
    while needle not in seen and time.time() < deadline:
        try:
            seen += sock.recv(4096)
        except socket.timeout:
            pass
    return seen


def power(m):
    return m.get(filter=("subtree", f'<power xmlns="{PW}"/>')).data_xml


def test_cycling_a_demo_outlet_reboots_its_router_on_the_console(demo):
    with connect() as m:
        wait_for("the demo PDU and UPS", lambda: re.search(
            r"<name>pdu1</name>.*?<reachable>true</reachable>", power(m), re.S) and re.search(
            r"<name>ups1</name>.*?<status>OL</status>", power(m), re.S), timeout=30)
        ports = m.get(filter=("subtree", f'<ports xmlns="{P}"><port><name>port01</name></port></ports>')).data_xml
        assert re.search(r"<power-outlet>.*?<outlet>t1</outlet>.*?<state>on</state>", ports, re.S), ports
        with socket.create_connection(("127.0.0.1", 14001), timeout=5) as console:
            console.sendall(b"\r")
            reply = m.dispatch(to_ele(
                f'<action xmlns="urn:ietf:params:xml:ns:yang:1"><power xmlns="{PW}"><device><name>pdu1</name>'
                f'<outlet><id>t1</id><cycle/></outlet></device></power></action>'))
            assert re.search(r"<state[^>]*>on</state>", reply.xml), reply.xml
            seen = read_until(console, b"System Bootstrap", 15)
            assert b"System Bootstrap" in seen, seen[-500:]
            assert b"Username:" in seen.split(b"System Bootstrap", 1)[1]


AR = "urn:lifeline:params:xml:ns:yang:lifeline-auto-response"


def test_a_crashed_demo_router_is_power_cycled_by_its_rule(demo):
    """`test crash` on port01's router prints %SYS-2-WATCHDOG and hangs: the
    demo's router1-hung rule cycles outlet t1 and the router boots again."""
    started = time.time()
    with connect() as m:
        wait_for("the demo PDU", lambda: re.search(
            r"<name>pdu1</name>.*?<reachable>true</reachable>", power(m), re.S), timeout=30)
        with socket.create_connection(("127.0.0.1", 14001), timeout=2) as console:
            def typed(text, expect):
                console.sendall(text)
                return read_until(console, expect, 5)
            typed(b"\r", b"Username:")
            typed(b"admin\r", b"Password:")
            assert b">" in typed(b"cisco\r", b">")
            # The rules ignore what happens in the demo's 10 s boot delay.
            time.sleep(max(0, started + 11 - time.time()))
            assert b"%SYS-2-WATCHDOG" in typed(b"test crash\r", b"%SYS-2-WATCHDOG")
            seen = read_until(console, b"System Bootstrap", 20)
            assert b"System Bootstrap" in seen, seen[-500:]
        rule = m.get(filter=("subtree", f'<auto-response xmlns="{AR}"><rule><name>router1-hung</name></rule></auto-response>')).data_xml
        assert "<trigger-count>1</trigger-count>" in rule, rule
        assert re.search(r"<name>cycle</name>.*?<last-result>ok</last-result>", rule, re.S), rule
