"""The connection manager in network namespaces (never the host's routes):
lifelined in the appliance's namespace with two veth uplinks to two ISP
namespaces routing to a NOC namespace; nftables drops and loses packets on the
primary ISP; the NOC's reachability of the appliance is measured by UDP echo;
the tunnel is wireguard-go on both ends."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import LIFELINED, factory_config, free_port  # noqa: E402
from netns import ECHO, PINGER, Topology, in_netns  # noqa: E402

UL = "urn:lifeline:params:xml:ns:yang:lifeline-uplinks"
NS = {"u": UL}
# LIFELINE-MIB llUplinkHealth.
HEALTH_COLUMN = ".1.3.6.1.4.1.8072.9999.9999.5433.1.3.1.1.6"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"),
                                reason="needs root and nftables for network namespaces")


class NsDaemon:
    """lifelined inside the appliance's namespace, reached by sockets made there."""

    def __init__(self, topo, tmp, uplinks_xml, ports=None):
        self.topo, self.tmp = topo, tmp
        # A restart keeps the ports: the startup configuration has them.
        self.port, self.cli_port = ports or (free_port(), free_port())
        (tmp / "factory.xml").write_text(factory_config(self.port, self.cli_port) + uplinks_xml)
        self.log = tmp / "lifelined.log"
        self.proc = topo.spawn(topo.app, LIFELINED, "--state-dir", str(tmp / "state"),
                               "--factory-config", str(tmp / "factory.xml"),
                               stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        deadline = time.time() + 30
        while True:
            try:
                in_netns(topo.app, lambda: socket.create_connection(("127.0.0.1", self.port), 0.5)).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("lifelined did not start: " + self.log.read_text()[-2000:])
                time.sleep(0.1)
        from ncclient import manager
        sock = in_netns(topo.app, lambda: socket.create_connection(("127.0.0.1", self.port), 10))
        self.m = manager.connect(host="127.0.0.1", port=self.port, sock=sock, username="admin", password="admin",
                                 hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=30)

    def cli(self, command):
        """The CLI over OpenSSH, from inside the appliance's namespace."""
        return self.topo.run(self.topo.app, "sshpass", "-p", "admin", "ssh", "-p", str(self.cli_port),
                             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                             "-o", "PubkeyAuthentication=no", "-o", "LogLevel=ERROR", "admin@127.0.0.1",
                             command, check=False, timeout=60).stdout

    def state(self):
        r = self.m.get(filter=("subtree", f'<uplinks xmlns="{UL}"/>'))
        return ET.fromstring(r.data_xml).find("u:uplinks", {"u": UL}) if "<data" in r.data_xml else None

    def uplink(self, name):
        s = self.state()
        for u in s.findall("u:uplink", NS):
            if u.findtext("u:name", namespaces=NS) == name:
                return u
        raise KeyError(name)

    def active(self):
        return self.state().findtext("u:state/u:active-uplink", namespaces=NS)

    def wait(self, what, cond, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; log: {self.log.read_text()[-3000:]}")

    def close(self):
        try:
            self.m.close_session()
        except Exception:  # noqa: BLE001
            pass


def uplinks_xml(extra="", lte_extra="", holddown=3):
    return (f'<uplinks xmlns="{UL}"><failback-holddown>{holddown}</failback-holddown>'
            f'<uplink><name>wan</name><interface>up1</interface><priority>10</priority></uplink>'
            f'<uplink><name>lte</name><interface>up2</interface><priority>20</priority><kind>cellular</kind>'
            f'{lte_extra}</uplink>{extra}</uplinks>')


@pytest.fixture
def topo():
    t = Topology()
    # The gateways as DHCP would leave them: default routes with metrics.
    t.ip(t.app, "route", "add", "default", "via", "10.1.0.1", "dev", "up1", "metric", "100")
    t.ip(t.app, "route", "add", "default", "via", "10.2.0.1", "dev", "up2", "metric", "200")
    yield t
    t.close()


class Pinger:
    """The NOC sending to the appliance's secondary address every 10 ms."""

    def __init__(self, topo, dst="10.2.0.2", src="10.9.0.1"):
        topo.spawn(topo.app, sys.executable, "-c", ECHO)
        self.p = topo.spawn(topo.noc, sys.executable, "-u", "-c", PINGER, dst, src,
                            stdout=subprocess.PIPE, text=True)
        self.seen = []
        os.set_blocking(self.p.stdout.fileno(), False)

    def read(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                return self.seen
            self.seen.append(float(line))

    def answered_after(self, t):
        return [x for x in self.read() if x > t]


def failover_time(topo, d, pinger):
    """From the first packet dropped to the NOC reaching the appliance again."""
    d.wait("the NOC reaching the appliance", lambda: pinger.answered_after(time.monotonic() - 0.5))
    t0 = time.monotonic()
    topo.drop_all(topo.isp1)
    back = d.wait("reachability through the secondary", lambda: pinger.answered_after(t0 + 0.05), timeout=30)
    return back[0] - t0


def test_failover_in_seconds_no_failover_on_loss_and_failback_after_holddown(topo, tmp_path):
    d = NsDaemon(topo, tmp_path, uplinks_xml())
    try:
        d.wait("wan active", lambda: d.active() == "wan")
        wan = d.uplink("wan")
        assert wan.findtext("u:gateway-in-use", namespaces=NS) == "10.1.0.1"  # learned
        assert wan.findtext("u:health", namespaces=NS) == "up"
        # Our tables and rules, nothing else: the main table is as it was.
        rules = topo.run(topo.app, "ip", "rule").stdout
        assert "suppress_prefixlength 0" in rules and "lookup 1000" in rules, rules
        # Tables in the order of the names: lte 1001, wan 1002.
        assert "default via 10.1.0.1 dev up1" in topo.ip(topo.app, "route", "show", "table", "1000").stdout
        assert "default via 10.1.0.1 dev up1" in topo.ip(topo.app, "route", "show", "table", "1002").stdout
        assert "default via 10.2.0.1 dev up2" in topo.ip(topo.app, "route", "show", "table", "1001").stdout
        main = topo.ip(topo.app, "route", "show").stdout
        assert "metric 100" in main and "metric 200" in main

        pinger = Pinger(topo)
        # 30% loss on the primary for 10 s: degraded at most, never a failover.
        topo.lossy(topo.isp1, 30)
        time.sleep(10)
        s = d.state()
        assert s.findtext("u:state/u:active-uplink", namespaces=NS) == "wan"
        assert s.findtext("u:state/u:failovers", namespaces=NS) == "0"
        assert d.uplink("wan").findtext("u:health", namespaces=NS) in ("up", "degraded")
        lost = int(d.uplink("wan").findtext("u:probe-statistics/u:sent", namespaces=NS)) - \
            int(d.uplink("wan").findtext("u:probe-statistics/u:received", namespaces=NS))
        assert lost > 5
        topo.heal(topo.isp1)
        d.wait("wan up again", lambda: d.uplink("wan").findtext("u:health", namespaces=NS) == "up", timeout=30)

        took = failover_time(topo, d, pinger)
        print(f"failover took {took:.2f} s")
        assert d.active() == "lte"
        wan = d.uplink("wan")
        assert wan.findtext("u:health", namespaces=NS) == "down"
        assert "unanswered" in wan.findtext("u:reason", namespaces=NS)
        assert d.state().findtext("u:state/u:failovers", namespaces=NS) == "1"
        assert "default via 10.2.0.1 dev up2" in topo.ip(topo.app, "route", "show", "table", "1000").stdout

        # Recovery plus the 3 s hold-down, then failback.
        t = time.monotonic()
        topo.heal(topo.isp1)
        d.wait("failback", lambda: d.active() == "wan", timeout=30)
        assert time.monotonic() - t >= 3
        assert d.state().findtext("u:state/u:last-failback", namespaces=NS)
        # The primary's link taken down: failover at once, on carrier.
        t = time.monotonic()
        topo.ip(topo.isp1, "link", "set", "cust", "down")
        d.wait("failover on carrier loss", lambda: d.active() == "lte", timeout=10)
        assert time.monotonic() - t < 3
        assert "no carrier" in d.uplink("wan").findtext("u:reason", namespaces=NS)
    finally:
        d.close()


def test_dormant_uplink_and_absent_interface(topo, tmp_path):
    topo.ip(topo.app, "link", "set", "up2", "down")
    # Its default route went with the link: the gateway is configured.
    xml = uplinks_xml(lte_extra="<gateway>10.2.0.1</gateway><on-demand/>",
                      extra="<uplink><name>usb</name><interface>wwan9</interface><priority>30</priority></uplink>")
    d = NsDaemon(topo, tmp_path, xml)
    try:
        d.wait("wan active", lambda: d.active() == "wan")
        assert d.uplink("lte").findtext("u:health", namespaces=NS) == "dormant"
        assert d.uplink("usb").findtext("u:health", namespaces=NS) == "absent"
        # The same health in LIFELINE-MIB's uplink table, to net-snmp's snmpwalk.
        from test_snmp_agent import snmp_config
        d.m.edit_config(target="candidate", config=f"<config>{snmp_config(16161)}</config>")
        d.m.commit()
        health = HEALTH_COLUMN
        walk = ""
        for _ in range(50):
            walk = topo.run(topo.app, "snmpwalk", "-v2c", "-c", "public", "-On", "-t", "1", "-r", "1",
                            "127.0.0.1:16161", health, check=False).stdout
            if "INTEGER" in walk:
                break
            time.sleep(0.1)
        # In the order of the names: lte dormant(6), usb absent(5), wan up(1).
        assert re.findall(r"INTEGER: (\d+)", walk) == ["6", "5", "1"], walk
        shown = d.cli("show uplinks")
        assert "dormant" in shown and "absent" in shown and "wwan9 does not exist" in shown, shown
        topo.drop_all(topo.isp1)
        d.wait("failover to the on-demand uplink", lambda: d.active() == "lte", timeout=30)
        assert "UP" in topo.ip(topo.app, "link", "show", "up2").stdout.split(">")[0]
        topo.heal(topo.isp1)
        d.wait("failback", lambda: d.active() == "wan", timeout=30)
        d.wait("on-demand uplink down again",
               lambda: d.uplink("lte").findtext("u:health", namespaces=NS) == "dormant", timeout=10)
        assert ",UP" not in topo.ip(topo.app, "link", "show", "up2").stdout
        # The interface that appears later is picked up.
        topo.ip(topo.app, "link", "add", "wwan9", "type", "veth", "peer", "name", "wwan9p")
        topo.ip(topo.app, "link", "set", "wwan9", "up")
        d.wait("usb no longer absent",
               lambda: d.uplink("usb").findtext("u:health", namespaces=NS) != "absent", timeout=10)
    finally:
        d.close()


def wg_keys():
    priv = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()
    pub = subprocess.run(["wg", "pubkey"], input=priv, capture_output=True, text=True, check=True).stdout.strip()
    return priv, pub


@pytest.mark.skipif(not shutil.which("wireguard-go"), reason="needs wireguard-go")
def test_tunnel_on_failover_carries_the_management_address(topo, tmp_path):
    a_priv, a_pub = wg_keys()
    n_priv, n_pub = wg_keys()
    tag = topo.app[-6:]
    a_if, n_if = f"wga{tag}", f"wgn{tag}"
    # The NOC's end.
    topo.spawn(topo.noc, "env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", "-f", n_if,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if os.path.exists(f"/var/run/wireguard/{n_if}.sock"):
            break
        time.sleep(0.1)
    (tmp_path / "n.key").write_text(n_priv)
    topo.run(topo.noc, "wg", "set", n_if, "listen-port", "51820", "private-key", str(tmp_path / "n.key"),
             "peer", a_pub, "allowed-ips", "10.200.0.2/32")
    topo.ip(topo.noc, "addr", "add", "10.200.0.1/24", "dev", n_if)
    topo.ip(topo.noc, "link", "set", n_if, "up")
    tunnel = (f"<tunnel><interface>{a_if}</interface><wireguard><private-key>{a_priv}</private-key>"
              f"<address>10.200.0.2/24</address><peer><public-key>{n_pub}</public-key>"
              f"<endpoint>10.9.0.1</endpoint><allowed-ips>10.200.0.0/24</allowed-ips>"
              f"<persistent-keepalive>1</persistent-keepalive></peer></wireguard></tunnel>")
    d = NsDaemon(topo, tmp_path, uplinks_xml(extra=tunnel))
    try:
        d.wait("wan active", lambda: d.active() == "wan")
        assert not os.path.exists(f"/var/run/wireguard/{a_if}.sock")
        ping = lambda: topo.run(topo.noc, "ping", "-c", "1", "-W", "1", "10.200.0.2", check=False).returncode == 0
        assert not ping()
        topo.drop_all(topo.isp1)
        d.wait("failover", lambda: d.active() == "lte", timeout=30)
        d.wait("tunnel up", lambda: d.state().findtext("u:state/u:tunnel-up", namespaces=NS) == "true")
        # The NOC reaches the appliance's management address through the tunnel.
        try:
            d.wait("the NOC reaching 10.200.0.2 through the tunnel", ping, timeout=15)
        except AssertionError:
            print("APP", topo.run(topo.app, "wg", "show", check=False).stdout, topo.run(topo.app, "ip", "addr", check=False).stdout.replace("\n", " / "),
                  topo.ip(topo.app, "route", "show", "table", "1000").stdout, topo.run(topo.app, "ip", "rule").stdout)
            print("NOC", topo.run(topo.noc, "wg", "show", check=False).stdout)
            raise
        topo.heal(topo.isp1)
        d.wait("failback", lambda: d.active() == "wan", timeout=30)
        d.wait("tunnel gone", lambda: not os.path.exists(f"/var/run/wireguard/{a_if}.sock"), timeout=10)
        assert d.state().findtext("u:state/u:tunnel-up", namespaces=NS) == "false"
        assert topo.ip(topo.app, "link", "show", a_if, check=False).returncode != 0
    finally:
        d.close()


def test_bad_uplink_config_is_refused_with_its_path(topo, tmp_path):
    d = NsDaemon(topo, tmp_path, uplinks_xml())
    try:
        d.wait("wan active", lambda: d.active() == "wan")
        from ncclient.operations.rpc import RPCError
        dup = f'<config><uplinks xmlns="{UL}"><uplink><name>dup</name><interface>up1</interface></uplink></uplinks></config>'
        with pytest.raises(RPCError) as e:
            d.m.edit_config(target="running", config=dup)
        assert "already another uplink" in str(e.value)
        bad_key = (f'<config><uplinks xmlns="{UL}"><tunnel><wireguard><private-key>nope</private-key>'
                   '<address>10.200.0.2/24</address><peer><public-key>nope</public-key><endpoint>10.9.0.1</endpoint>'
                   '<allowed-ips>10.200.0.0/24</allowed-ips></peer></wireguard></tunnel></uplinks></config>')
        with pytest.raises(RPCError) as e:
            d.m.edit_config(target="running", config=bad_key)
        assert "private-key" in (e.value.path or "") + str(e.value), (e.value.path, str(e.value))
        bad_target = f'<config><uplinks xmlns="{UL}"><uplink><name>wan</name><probe><target>not-an-ip</target></probe></uplink></uplinks></config>'
        with pytest.raises(RPCError) as e:
            d.m.edit_config(target="running", config=bad_target)
        assert "target" in (e.value.path or "") + str(e.value), (e.value.path, str(e.value))
        assert d.active() == "wan"
        # ICMPv6 probes out of the uplink's interface.
        v6 = f'<config><uplinks xmlns="{UL}"><uplink><name>lte</name><probe><target>fd00:2::1</target></probe></uplink></uplinks></config>'
        d.m.edit_config(target="candidate", config=v6)
        d.m.commit()
        received = lambda: int(d.uplink("lte").findtext("u:probe-statistics/u:received", namespaces=NS))
        d.wait("ICMPv6 replies", lambda: d.uplink("lte").findtext("u:health", namespaces=NS) == "up" and received() > 3)
        assert int(d.uplink("lte").findtext("u:probe-statistics/u:rtt-average", namespaces=NS)) > 0
    finally:
        d.close()


def test_kernel_refusal_is_failed_over_incomplete_and_restart_uses_the_healthy_uplink(topo, tmp_path):
    # A gateway that is not on the link: the kernel refuses the route.
    xml = uplinks_xml().replace("<interface>up1</interface>",
                                "<interface>up1</interface><gateway>192.0.2.1</gateway>"
                                "<probe><target>10.1.0.1</target></probe>")
    d = NsDaemon(topo, tmp_path, xml)
    try:
        d.wait("wan active", lambda: d.active() == "wan")
        d.wait("routing failed", lambda: d.state().findtext("u:state/u:routing", namespaces=NS)
               == "failed-over-incomplete")
        err = d.state().findtext("u:state/u:routing-error", namespaces=NS)
        assert err and "unreachable" in err.lower(), err
        # Fixed by a commit: the next try succeeds.
        fix = f'<config><uplinks xmlns="{UL}"><uplink><name>wan</name><gateway>10.1.0.1</gateway></uplink></uplinks></config>'
        d.m.edit_config(target="candidate", config=fix)
        d.m.commit()
        d.wait("routing complete", lambda: d.state().findtext("u:state/u:routing", namespaces=NS) == "complete")
        # Fail over, then restart: it comes up on the healthy uplink.
        topo.drop_all(topo.isp1)
        d.wait("failover", lambda: d.active() == "lte", timeout=30)
    finally:
        d.close()
    d.proc.kill()
    d.proc.wait()
    d2 = NsDaemon(topo, tmp_path, xml, ports=(d.port, d.cli_port))
    try:
        d2.wait("lte active after restart", lambda: d2.active() is not None, timeout=20)
        assert d2.active() == "lte"
        assert d2.uplink("wan").findtext("u:health", namespaces=NS) in ("down", "unknown")
    finally:
        d2.close()


@pytest.mark.skipif(not shutil.which("wireguard-go"), reason="needs wireguard-go")
def test_uplink_down_and_up_actions_fail_over_and_back_and_tunnel_start_and_stop(topo, tmp_path):
    from ncclient.operations.rpc import RPCError
    from ncclient.xml_ import to_ele
    a_priv, _ = wg_keys()
    _, n_pub = wg_keys()
    a_if = f"wga{topo.app[-6:]}"
    sock = f"/var/run/wireguard/{a_if}.sock"
    tunnel = (f"<failback>immediate</failback><tunnel><bring-up>manual</bring-up><interface>{a_if}</interface>"
              f"<wireguard><private-key>{a_priv}</private-key><address>10.200.0.2/24</address>"
              f"<peer><public-key>{n_pub}</public-key><endpoint>10.9.0.1</endpoint>"
              f"<allowed-ips>10.200.0.0/24</allowed-ips></peer></wireguard></tunnel>")
    d = NsDaemon(topo, tmp_path, uplinks_xml(extra=tunnel))

    def act(node):
        return d.m.dispatch(to_ele(f'<action xmlns="urn:ietf:params:xml:ns:yang:1"><uplinks xmlns="{UL}">'
                                   f'{node}</uplinks></action>'))

    text = lambda path: d.state().findtext(path, namespaces=NS)
    try:
        d.wait("wan active", lambda: d.active() == "wan")
        assert d.uplink("wan").findtext("u:administratively-down", namespaces=NS) == "false"
        # The down action on the active uplink: failover at once.
        t = time.monotonic()
        act("<uplink><name>wan</name><down/></uplink>")
        d.wait("failover to lte", lambda: d.active() == "lte", timeout=5)
        assert time.monotonic() - t < 5
        wan = d.uplink("wan")
        assert wan.findtext("u:health", namespaces=NS) == "disabled"
        assert "taken down by an action" in wan.findtext("u:reason", namespaces=NS)
        assert wan.findtext("u:administratively-down", namespaces=NS) == "true"
        assert "default via 10.2.0.1 dev up2" in topo.ip(topo.app, "route", "show", "table", "1000").stdout
        # bring-up manual: a failover does not bring the tunnel up.
        assert text("u:state/u:tunnel-up") == "false"
        # Up: probed again, and failback at once.
        act("<uplink><name>wan</name><up/></uplink>")
        d.wait("failback to wan", lambda: d.active() == "wan", timeout=10)
        assert d.uplink("wan").findtext("u:administratively-down", namespaces=NS) == "false"
        with pytest.raises(RPCError):
            act("<uplink><name>nope</name><down/></uplink>")
        # The tunnel's start and stop answer once it is up or down.
        assert not os.path.exists(sock)
        act("<tunnel><start/></tunnel>")
        assert text("u:state/u:tunnel-up") == "true"
        assert os.path.exists(sock)
        assert text("u:tunnel/u:up") == "true"
        act("<tunnel><stop/></tunnel>")
        assert text("u:state/u:tunnel-up") == "false"
        d.wait("wireguard-go gone", lambda: not os.path.exists(sock), timeout=5)
        assert topo.ip(topo.app, "link", "show", a_if, check=False).returncode != 0
    finally:
        d.close()


AR = "urn:lifeline:params:xml:ns:yang:lifeline-auto-response"
AL = "urn:ietf:params:xml:ns:yang:ietf-alarms"


@pytest.mark.skipif(not shutil.which("wireguard-go"), reason="needs wireguard-go")
def test_a_rule_starts_the_tunnel_when_the_primary_fails(topo, tmp_path):
    """The tunnel is manual: an auto-response rule on uplink-failover starts
    it, and its resolve action (on failback) stops it; the uplink's own
    uplink-down alarm is raised and cleared on the way."""
    a_priv, _ = wg_keys()
    _, n_pub = wg_keys()
    a_if = f"wga{topo.app[-6:]}"
    sock = f"/var/run/wireguard/{a_if}.sock"
    tunnel = (f"<tunnel><bring-up>manual</bring-up><interface>{a_if}</interface>"
              f"<wireguard><private-key>{a_priv}</private-key><address>10.200.0.2/24</address>"
              f"<peer><public-key>{n_pub}</public-key><endpoint>10.9.0.1</endpoint>"
              f"<allowed-ips>10.200.0.0/24</allowed-ips></peer></wireguard></tunnel>")
    rule = (f'<auto-response xmlns="{AR}"><boot-delay>0</boot-delay><rule><name>vpn-on-failover</name>'
            f'<run-as>admin</run-as><trigger><event xmlns:llt="urn:lifeline:params:xml:ns:yang:lifeline-types">'
            f'llt:uplink-failover</event></trigger>'
            f'<action><name>start</name><tunnel><operation>up</operation></tunnel></action>'
            f'<resolve-action><name>stop</name><tunnel><operation>down</operation></tunnel></resolve-action>'
            f'</rule></auto-response>')
    d = NsDaemon(topo, tmp_path, uplinks_xml(extra=tunnel) + rule)

    def alarm_cleared():
        r = d.m.get(filter=("subtree", f'<alarms xmlns="{AL}"><alarm-list/></alarms>')).data_xml
        m = re.search(r"<alarm>(?:(?!</alarm>).)*uplink\[[^]]*'wan'\](?:(?!</alarm>).)*</alarm>", r, re.S)
        return m and re.search(r"<is-cleared>(\w+)</is-cleared>", m.group(0)).group(1)

    try:
        d.wait("wan active", lambda: d.active() == "wan")
        assert not os.path.exists(sock)
        topo.drop_all(topo.isp1)
        d.wait("failover", lambda: d.active() == "lte", timeout=30)
        d.wait("the rule's tunnel", lambda: d.state().findtext("u:state/u:tunnel-up", namespaces=NS) == "true",
               timeout=15)
        assert os.path.exists(sock)
        assert alarm_cleared() == "false"
        r = d.m.get(filter=("subtree", f'<auto-response xmlns="{AR}"/>')).data_xml
        assert "<state>triggered</state>" in r and "<last-result>ok</last-result>" in r, r
        topo.heal(topo.isp1)
        d.wait("failback", lambda: d.active() == "wan", timeout=30)
        d.wait("the resolve action's stop", lambda: not os.path.exists(sock), timeout=15)
        assert d.state().findtext("u:state/u:tunnel-up", namespaces=NS) == "false"
        d.wait("the uplink-down alarm cleared", lambda: alarm_cleared() == "true", timeout=10)
    finally:
        d.close()
