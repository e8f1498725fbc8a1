"""Power devices against real peers: Powerman's powermand with vpcd, NUT's upsd with
dummy-ups and powerman-pdu, snmpsim as an APC rPDU, net-snmp's snmpd as an SNMPv3
PDU; outlets switched from NETCONF (ncclient), the CLI (OpenSSH), SNMP SET (net-snmp)
and the console's ~p menu, each seen on the device; UPS events in order; faults."""
import re
import socket
import subprocess
import threading
import time

import pexpect
import pytest
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele

from conftest import free_port
from peers import APC_COMMAND, Nut, Powerman, Snmpd, Snmpsim, wait_for
from test_console import Line

PW = "urn:lifeline:params:xml:ns:yang:lifeline-power"
P = "urn:lifeline:params:xml:ns:yang:lifeline-ports"
SYSM = "urn:lifeline:params:xml:ns:yang:lifeline-system"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"


def error_xml(e):
    """An rpc-error as text (error-app-tag, message, all of it)."""
    from lxml import etree
    return etree.tostring(e.value.xml).decode()


def device_xml(name, driver, outlets="", extra=""):
    return (f'<power xmlns="{PW}"><device><name>{name}</name>{driver}<poll-interval>1</poll-interval>'
            f'<timeout>3</timeout>{extra}{outlets}</device></power>')


def powerman_xml(pm, outlets=""):
    return device_xml("pdu", f"<powerman><host>127.0.0.1</host><port>{pm.port}</port></powerman>", outlets)


def configure(daemon, xml):
    with daemon.connect() as m:
        m.edit_config(target="running", config=f"<config>{xml}</config>")


def state(daemon, device):
    with daemon.connect() as m:
        return m.get(filter=("subtree", f'<power xmlns="{PW}"><device><name>{device}</name></device></power>')).data_xml


def outlet_state(daemon, device, outlet):
    xml = state(daemon, device)
    m = re.search(rf"<outlet><id>{re.escape(outlet)}</id>.*?<state>(\w+)</state>", xml, re.S)
    return m and m.group(1)


def act(m, device, outlet, op):
    return m.dispatch(to_ele(
        f'<action xmlns="urn:ietf:params:xml:ns:yang:1"><power xmlns="{PW}"><device><name>{device}</name>'
        f'<outlet><id>{outlet}</id><{op}/></outlet></device></power></action>'))


def subscribe(m):
    m.dispatch(to_ele(f'<create-subscription xmlns="{NOTIF}"/>'))


def notifications(m, names, timeout=30):
    """The notifications named (by element: an alarm's notification that
    names the same type is not one of them), in the order they came, until
    all were seen."""
    got, deadline = [], time.time() + timeout
    while time.time() < deadline and not all(any(f"<{n} " in g for g in got) for n in names):
        n = m.take_notification(timeout=1)
        if n is not None and any(f"<{x} " in n.notification_xml for x in names):
            got.append(n.notification_xml)
    return got


SNMP_RW = """<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp">
  <engine><enabled>true</enabled><listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{port}</port></udp></listen>
    <version><v2c/></version></engine>
  <community><index>rw</index><text-name>private</text-name><security-name>admin</security-name></community>
  <community><index>ro</index><text-name>oper</text-name><security-name>operator</security-name></community>
  <vacm><group><name>rw</name>
      <member><security-name>admin</security-name><security-model>v2c</security-model></member>
      <member><security-name>operator</security-name><security-model>v2c</security-model></member>
    <access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level>
      <read-view>all</read-view><write-view>all</write-view></access></group>
    <view><name>all</name><include>1</include></view></vacm>
</snmp>"""

OPERATOR = """<system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><authentication>
  <user><name>operator</name><password>$0$operator</password></user></authentication></system>
<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm"><groups><group><name>operator</name>
  <user-name>operator</user-name></group></groups></nacm>"""

OUTLET_CONTROL = ".1.3.6.1.4.1.8072.9999.9999.5433.1.2.2.1.4"


def outlet_index(device, outlet):
    return ".".join(str(x) for x in [len(device), *device.encode(), len(outlet), *outlet.encode()])


def test_powerman_outlets_from_netconf_cli_snmp_and_the_console(daemon, tmp_path):
    line = Line(tmp_path).plug()
    snmp_port = free_port()
    with Powerman(tmp_path) as pm:
        outlets = "".join(f"<outlet><id>t{i}</id><name>router{i}</name></outlet>" for i in range(1, 4))
        configure(daemon, powerman_xml(pm, outlets) + SNMP_RW.format(port=snmp_port) +
                  f'<ports xmlns="{P}"><port><name>port01</name><number>1</number><device>{line.device}</device>'
                  f'<access><ssh><enabled>false</enabled></ssh><telnet><enabled>false</enabled></telnet></access>'
                  f'<power-outlet><device>pdu</device><outlet>t1</outlet></power-outlet></port></ports>'
                  f'<management xmlns="{SYSM}"><console-access><address>127.0.0.1</address></console-access></management>'
                  + OPERATOR)
        # Every plug the device reports is in the state, configured or not.
        wait_for("the first poll", lambda: "<reachable>true</reachable>" in state(daemon, "pdu"))
        xml = state(daemon, "pdu")
        assert all(f"<id>t{i}</id>" in xml for i in range(16)), xml
        assert outlet_state(daemon, "pdu", "t9") == "off"
        with daemon.connect() as watcher, daemon.connect() as m:
            subscribe(watcher)
            # NETCONF: the action answers with the state the device reports.
            reply = act(m, "pdu", "t1", "on")
            assert re.search(r"<state[^>]*>on</state>", reply.xml), reply.xml
            assert pm.query()["t1"] == "on"
            seen = notifications(watcher, ["outlet-state-change"])
            assert "<outlet>t1</outlet>" in seen[0] and "<previous>off</previous>" in seen[0], seen
            # The CLI, through OpenSSH.
            rc, out = daemon.cli("request power device pdu outlet t2 on")
            assert rc == 0 and "state on" in out, out
            assert pm.query()["t2"] == "on"
            # SNMP SET of the outlet control column (cycle), through the typed action.
            out = subprocess.run(["snmpset", "-v2c", "-c", "private", "-On", f"127.0.0.1:{snmp_port}",
                                  f"{OUTLET_CONTROL}.{outlet_index('pdu', 't3')}", "i", "4"],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            wait_for("t3 cycled on", lambda: pm.query()["t3"] == "on")
            # NACM decides for SNMP's actions too: operator may not switch.
            out = subprocess.run(["snmpset", "-v2c", "-c", "oper", "-On", f"127.0.0.1:{snmp_port}",
                                  f"{OUTLET_CONTROL}.{outlet_index('pdu', 't3')}", "i", "3"],
                                 capture_output=True, text=True, timeout=30)
            assert "noAccess" in out.stdout + out.stderr, out
            assert pm.query()["t3"] == "on"
        with daemon.connect(user="operator", password="operator") as m:
            with pytest.raises(RPCError) as e:
                act(m, "pdu", "t1", "off")
            assert e.value.tag == "access-denied"
        # The outlet's state beside the port it feeds.
        with daemon.connect() as m:
            port = m.get(filter=("subtree", f'<ports xmlns="{P}"><port><name>port01</name></port></ports>')).data_xml
        assert re.search(r"<power-outlet><device>pdu</device><outlet>t1</outlet><state>on</state>", port), port
        # The console's ~p menu switches the linked outlet.
        child = pexpect.spawn("sshpass", ["-p", "admin", "ssh", "-p", str(daemon.cli_port), "-tt", "-e", "none",
                                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                          "-o", "PubkeyAuthentication=no", "-o", "LogLevel=ERROR",
                                          "admin:port01@127.0.0.1"], timeout=20)
        child.expect(r"\[lifeline: port01")
        child.send("\r~p")
        child.expect(r"1\s+pdu outlet t1")
        child.send("1 off\r")
        child.expect(r"pdu outlet t1: off done")
        assert pm.query()["t1"] == "off"
        child.send("\r~.")
        child.expect(pexpect.EOF)
    line.unplug()


# A community whose context is UPS ups2, one whose context does not exist, and
# read access to every context whose name starts with "ups".
UPS_CONTEXTS = """<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp">
  <community><index>ups2</index><text-name>second</text-name><security-name>admin</security-name>
    <context>ups2</context></community>
  <community><index>nope</index><text-name>nope</text-name><security-name>admin</security-name>
    <context>ups9</context></community>
  <vacm><group><name>rw</name><access><context>ups</context><security-model>any</security-model>
    <security-level>no-auth-no-priv</security-level><context-match>prefix</context-match>
    <read-view>all</read-view></access></group></vacm>
</snmp>"""


def snmpget(port, community, oid):
    out = subprocess.run(["snmpget", "-v2c", "-c", community, "-On", "-Oqv", "-t", "1", "-r", "0",
                          f"127.0.0.1:{port}", oid], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def test_nut_ups_events_arrive_in_order_and_show_everywhere(daemon, tmp_path):
    snmp_port = free_port()
    with Nut(tmp_path, step=2, steady=True) as nut:
        with daemon.connect() as watcher:
            subscribe(watcher)
            steady = f"<nut><host>127.0.0.1</host><port>{nut.port}</port><ups>steady</ups></nut>"
            configure(daemon, device_xml("ups", f"<nut><host>127.0.0.1</host><port>{nut.port}</port><ups>dummy</ups></nut>")
                      + device_xml("ups2", steady) + SNMP_RW.format(port=snmp_port) + UPS_CONTEXTS)
            got = notifications(watcher, ["ups-on-battery", "ups-low-battery", "ups-on-line"], timeout=40)
        order = [next(n for n in ("ups-on-battery", "ups-low-battery", "ups-on-line") if f"<{n} " in g) for g in got]
        # The cycle may start anywhere: from the first on-battery, the order holds.
        start = order.index("ups-on-battery")
        assert order[start:start + 3] == ["ups-on-battery", "ups-low-battery", "ups-on-line"], order
        assert "<device>ups</device>" in got[start] and "<status>OB</status>" in got[start], got[start]
        # NETCONF state and UPS-MIB follow the UPS.
        def both_say_battery():
            xml = state(daemon, "ups")
            mib = subprocess.run(["snmpget", "-v2c", "-c", "private", "-On", "-Oqv", f"127.0.0.1:{snmp_port}",
                                  ".1.3.6.1.2.1.33.1.4.1.0"], capture_output=True, text=True).stdout.strip()
            return "<on-battery>true</on-battery>" in xml and mib == "5"
        wait_for("NETCONF and UPS-MIB to show the UPS on battery", both_say_battery, timeout=20)
        assert re.search(r"<battery-charge>(60|10)</battery-charge>", state(daemon, "ups"))
        # Every UPS has its UPS-MIB, in the SNMP context named after it (here
        # through a community mapped to the context, RFC 3584).
        charge, ident, source = ".1.3.6.1.2.1.33.1.2.4.0", ".1.3.6.1.2.1.33.1.1.5.0", ".1.3.6.1.2.1.33.1.4.1.0"
        assert snmpget(snmp_port, "second", ident) == '"ups2"'
        assert snmpget(snmp_port, "second", charge) == "77"
        assert snmpget(snmp_port, "second", source) == "3"
        assert snmpget(snmp_port, "private", ident) == '"ups"'
        # A context holds UPS-MIB only; an unknown context is counted and not answered.
        assert "No Such Object" in snmpget(snmp_port, "second", ".1.3.6.1.2.1.1.5.0")
        unknown = int(snmpget(snmp_port, "private", ".1.3.6.1.6.3.12.1.5.0"))
        assert snmpget(snmp_port, "nope", charge) is None
        assert int(snmpget(snmp_port, "private", ".1.3.6.1.6.3.12.1.5.0")) == unknown + 1


def test_nut_switches_outlets_of_a_powerman_pdu_and_names_refusals(daemon, tmp_path):
    with Powerman(tmp_path) as pm, Nut(tmp_path, powerman=pm) as nut:
        nut_pdu = (f"<nut><host>127.0.0.1</host><port>{nut.port}</port><ups>pdu</ups>"
                   "<username>admin</username><password>secret</password></nut>")
        viewer = (f"<nut><host>127.0.0.1</host><port>{nut.port}</port><ups>pdu</ups>"
                  "<username>viewer</username><password>viewer</password></nut>")
        configure(daemon, device_xml("nutpdu", nut_pdu).replace("</power>", "") +
                  device_xml("viewed", viewer).replace(f'<power xmlns="{PW}">', ""))
        wait_for("the NUT PDU's outlets", lambda: outlet_state(daemon, "nutpdu", "3") == "off")
        with daemon.connect() as m:
            # outlet.3 is powermand's t2.
            reply = act(m, "nutpdu", "3", "on")
            assert re.search(r"<state[^>]*>on</state>", reply.xml), reply.xml
            assert pm.query()["t2"] == "on"
            act(m, "nutpdu", "3", "off")
            assert pm.query()["t2"] == "off"
            act(m, "nutpdu", "4", "cycle")
            assert pm.query()["t3"] == "on"
            # A user without instcmds: upsd's refusal, named.
            with pytest.raises(RPCError) as e:
                act(m, "viewed", "3", "on")
            assert "ACCESS-DENIED" in e.value.message and "<error-app-tag>refused</error-app-tag>" in error_xml(e), error_xml(e)
            # A command the device lacks is an error, never a silent success.
            with pytest.raises(RPCError) as e:
                act(m, "nutpdu", "17", "on")
            assert "outlet.17.load.on" in e.value.message or "no outlet" in e.value.message, e.value.message
        assert pm.query()["t2"] == "off"


def test_snmp_pdu_apc_over_v2c_with_snmpsim(daemon, tmp_path):
    with Snmpsim(tmp_path) as sim:
        configure(daemon, device_xml("apc", f"<snmp-pdu><host>127.0.0.1</host><port>{sim.port}</port>"
                                            "<community>private</community></snmp-pdu>"))
        wait_for("the APC outlets", lambda: outlet_state(daemon, "apc", "8") == "on")
        assert "<device-description>Outlet 3</device-description>" in state(daemon, "apc")
        with daemon.connect() as m:
            reply = act(m, "apc", "3", "off")
            assert re.search(r"<state[^>]*>off</state>", reply.xml), reply.xml
            assert sim.get(f"{APC_COMMAND}.3") == "2"
            act(m, "apc", "3", "on")
            assert sim.get(f"{APC_COMMAND}.3") == "1"
            act(m, "apc", "5", "cycle")
            assert sim.get(f"{APC_COMMAND}.5") == "3"  # immediateReboot: the PDU cycles it


def test_snmp_pdu_over_v3_authpriv_with_snmpd(daemon, tmp_path):
    with Snmpd(tmp_path) as pdu:
        v3 = (f"<snmp-pdu><host>127.0.0.1</host><port>{pdu.port}</port><version>v3</version><user>pdu</user>"
              "<auth-protocol>sha</auth-protocol><auth-key>pduauthpass</auth-key>"
              "<priv-protocol>aes</priv-protocol><priv-key>pduprivpass</priv-key></snmp-pdu>")
        configure(daemon, device_xml("v3pdu", v3))
        wait_for("the v3 PDU's outlets", lambda: outlet_state(daemon, "v3pdu", "2") == "on")
        with daemon.connect() as m:
            act(m, "v3pdu", "2", "off")
        assert pdu.get(f"{APC_COMMAND}.2") == "2"
        # A wrong auth passphrase draws a usmStatsWrongDigests report: the error names it.
        configure(daemon, device_xml("v3pdu", v3.replace("pduauthpass", "wrongwrong")))
        wait_for("the wrong-digest refusal", lambda: "wrong digest" in state(daemon, "v3pdu"), timeout=20)
        # snmpd drops a request it cannot decrypt without a word: that is a timeout.
        configure(daemon, device_xml("v3pdu", v3.replace("pduprivpass", "wrongwrong")))
        wait_for("the silent drop", lambda: "<reachable>false</reachable>" in state(daemon, "v3pdu")
                 and "wrong digest" not in state(daemon, "v3pdu"), timeout=30)


def test_a_device_that_dies_mid_operation_recovers_by_itself(daemon, tmp_path):
    with Powerman(tmp_path) as pm:
        configure(daemon, powerman_xml(pm))
        wait_for("reachable", lambda: "<reachable>true</reachable>" in state(daemon, "pdu"))
        with daemon.connect() as watcher, daemon.connect() as m:
            subscribe(watcher)
            # The cycle takes vpcd a second: powermand dies in the middle.
            t = threading.Timer(0.3, pm.kill)
            t.start()
            t0 = time.monotonic()
            with pytest.raises(RPCError) as e:
                act(m, "pdu", "t4", "cycle")
            assert time.monotonic() - t0 < 10, "the caller waited too long"
            assert re.search(r"<error-app-tag>(unreachable|timed-out)</error-app-tag>", error_xml(e)), error_xml(e)
            got = notifications(watcher, ["power-device-unreachable"])
            assert got and "<device>pdu</device>" in got[0]
            assert "<reachable>false</reachable>" in state(daemon, "pdu")
            assert "<last-error>" in state(daemon, "pdu")
            # Back on the same port: found again without anyone's help.
            pm.start()
            got = notifications(watcher, ["power-device-reachable"], timeout=90)
            assert got, "no power-device-reachable"
            act(m, "pdu", "t4", "on")
            assert pm.query()["t4"] == "on"


def garbage_server(mode):
    """A device that answers garbage, stalls in the middle of a line, or sends lines
    longer than any protocol allows."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            try:
                if mode == "garbage":
                    c.sendall(b"\x00\xff\xfe garbage \x01\r\npowerman> ")
                elif mode == "stall":
                    c.sendall(b"001 2.3.27\r\npowerman> ")
                    c.recv(100)
                    c.sendall(b"303 t0: o")  # and nothing more
                elif mode == "long":
                    c.sendall(b"001 " + b"x" * 100_000)
                time.sleep(0.5)
            except OSError:
                pass
            finally:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return srv, stop


@pytest.mark.parametrize("mode", ["garbage", "stall", "long"])
def test_a_device_that_answers_garbage_is_unreachable_and_slows_no_other(daemon, tmp_path, mode):
    srv, stop = garbage_server(mode)
    try:
        with Powerman(tmp_path) as pm:
            bad = device_xml("bad", f"<powerman><host>127.0.0.1</host><port>{srv.getsockname()[1]}</port></powerman>")
            configure(daemon, powerman_xml(pm).replace("</power>", "") + bad.replace(f'<power xmlns="{PW}">', ""))
            wait_for("the bad device to be unreachable",
                     lambda: "<reachable>false</reachable>" in state(daemon, "bad"), timeout=20)
            assert "<last-error>" in state(daemon, "bad")
            # The good device is polled as ever, and switches at once.
            def last_poll():
                m = re.search(r"<last-poll>([^<]+)</last-poll>", state(daemon, "pdu"))
                return m and m.group(1)
            first = wait_for("a poll", last_poll)
            wait_for("another poll", lambda: last_poll() != first, timeout=10)
            with daemon.connect() as m:
                t0 = time.monotonic()
                act(m, "pdu", "t5", "on")
                assert time.monotonic() - t0 < 3
            with daemon.connect() as m:
                with pytest.raises(RPCError) as e:
                    act(m, "bad", "t0", "on")
                assert re.search(r"<error-app-tag>(unreachable|timed-out)</error-app-tag>", error_xml(e)), error_xml(e)
    finally:
        stop.set()
        srv.close()
