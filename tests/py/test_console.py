"""Console ports with real clients: OpenSSH (user:port and the port's own
listener), telnet, raw TCP sockets, pyserial's RFC 2217 client, the CLI's pmusers,
ncclient for configuration, state and actions; the device is a socat pty pair
whose far end the test plays."""
import os
import sys
import random
import re
import signal
import socket
import subprocess
import termios
import time
import tty

import pexpect
import pytest
import serial
from ncclient.xml_ import to_ele

from conftest import free_port

P = "urn:lifeline:params:xml:ns:yang:lifeline-ports"
SYSM = "urn:lifeline:params:xml:ns:yang:lifeline-system"
SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"


def wait(what, cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Line:
    """A socat pty pair: lifeline opens `device`; the test is the router on `far`."""

    def __init__(self, tmp_path):
        self.device = str(tmp_path / "ttyA")
        self.far_path = str(tmp_path / "ttyB")
        self.proc = None
        self.fd = None

    def plug(self):
        self.proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.device}", f"pty,raw,echo=0,link={self.far_path}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait("the pty links", lambda: os.path.exists(self.device) and os.path.exists(self.far_path))
        self.fd = os.open(self.far_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        return self

    def unplug(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
            except BlockingIOError:
                time.sleep(0.001)

    def read_until(self, needle, timeout=10):
        got = b""
        deadline = time.time() + timeout
        while needle not in got:
            if time.time() > deadline:
                raise AssertionError(f"device never got {needle!r}; got {got!r}")
            try:
                got += os.read(self.fd, 4096)
            except BlockingIOError:
                time.sleep(0.01)
        return got

    def drain(self, seconds=0.3):
        got = b""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                got += os.read(self.fd, 4096)
            except BlockingIOError:
                time.sleep(0.01)
        return got


class Rig:
    def __init__(self, daemon, line):
        self.d = daemon
        self.line = line
        self.ssh_port, self.telnet, self.raw, self.rfc2217 = (free_port() for _ in range(4))

    def port_xml(self, extra=""):
        return f"""<ports xmlns="{P}"><port>
  <name>port01</name><number>1</number><label>core1</label><device>{self.line.device}</device>
  <access>
    <ssh><port>{self.ssh_port}</port></ssh><telnet><port>{self.telnet}</port></telnet>
    <raw-tcp><enabled>true</enabled><port>{self.raw}</port></raw-tcp>
    <rfc2217><enabled>true</enabled><port>{self.rfc2217}</port></rfc2217>
    <max-sessions>64</max-sessions>
  </access>{extra}
</port></ports>"""

    def configure(self, extra="", more=""):
        with self.d.connect() as m:
            m.edit_config(target="running", config=f"""<config>{self.port_xml(extra)}
<management xmlns="{SYSM}"><console-access><address>127.0.0.1</address></console-access></management>
{more}</config>""")

    def state(self):
        with self.d.connect() as m:
            reply = m.get(filter=("subtree", f'<ports xmlns="{P}"><port><name>port01</name><state/></port></ports>'))
            return reply.data_xml

    def present(self):
        return "<device-present>true</device-present>" in self.state()

    def raw_conn(self):
        s = socket.create_connection(("127.0.0.1", self.raw), timeout=10)
        # Attached once a probe from the device arrives.
        return s

    def ssh_args(self, login, port=None):
        return ["-p", str(port or self.d.cli_port), "-tt", "-e", "none",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "PubkeyAuthentication=no", "-o", "LogLevel=ERROR", f"{login}@127.0.0.1"]

    def ssh(self, login="admin:port01", password="admin", port=None):
        child = pexpect.spawn("sshpass", ["-p", password, "ssh"] + self.ssh_args(login, port),
                              timeout=15)
        child.expect(r"\[lifeline: port01 \(core1\), (read-write|read-only); ~\? for help\]")
        return child

    def telnet_login(self, user, password):
        child = pexpect.spawn("telnet", ["127.0.0.1", str(self.telnet)], timeout=15)
        child.expect("login: ")
        child.send(user + "\r")
        child.expect("Password: ")
        child.send(password + "\r")
        return child


@pytest.fixture
def rig(daemon, tmp_path):
    line = Line(tmp_path).plug()
    r = Rig(daemon, line)
    r.configure()
    wait("the device to open", r.present)
    yield r
    line.unplug()


def attached(sock, rig, probe):
    """Waits until `sock` carries the device's output (it is attached)."""
    sock.settimeout(0.2)
    got = b""
    deadline = time.time() + 10
    while probe not in got:
        assert time.time() < deadline, got
        rig.line.write(probe)
        try:
            got += sock.recv(65536)
        except socket.timeout:
            pass
    sock.settimeout(10)


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, f"closed after {len(buf)} of {n} bytes"
        buf += chunk
    return buf


def test_ssh_user_port_both_ways_and_disconnect(rig):
    child = rig.ssh()
    rig.line.write(b"\r\nrouter1>")
    child.expect("router1>")
    child.send("show version\r")
    rig.line.read_until(b"show version\r")
    child.send("\r~.")
    child.expect(r"\[lifeline: disconnected\]")
    child.expect(pexpect.EOF)
    # The port's own SSH listener leads to the same console.
    child = rig.ssh(login="admin", port=rig.ssh_port)
    child.send("typed\r")
    rig.line.read_until(b"typed\r")
    child.close()


def test_telnet_login_readonly_user_and_transcript(rig):
    rig.configure(more=f"""
<system xmlns="{SYS}"><authentication><user><name>viewer</name><password>$0$viewer</password></user></authentication></system>
<nacm xmlns="{NACM}"><groups><group><name>operator</name><user-name>viewer</user-name></group></groups></nacm>""")
    child = rig.telnet_login("viewer", "wrong")
    child.expect("Login incorrect")
    child.expect("login: ")
    child.send("viewer\r")
    child.expect("Password: ")
    child.send("viewer\r")
    child.expect(r"\[lifeline: port01 \(core1\), read-only; ~\? for help\]")
    rig.line.write(b"console says hi\r\n")
    child.expect("console says hi")
    child.send("reboot\r")
    child.expect(r"\[lifeline: this session is read-only\]")
    assert rig.line.drain() == b"", "a read-only session's typing reached the device"
    child.close()

    admin = rig.telnet_login("admin", "admin")
    admin.expect("read-write")
    admin.send("conf t\r")
    rig.line.read_until(b"conf t\r")
    payload = bytes(range(256)) + b"\r\nend of burst\r\n"
    rig.line.write(payload)
    admin.expect("end of burst")
    admin.close()

    log = rig.d.state / "transcripts" / "port01.log"
    text = wait("the transcript", lambda: log.exists() and "left" in log.read_text(errors="replace")
                and log.read_text(errors="replace"))
    out, typed, notes = b"", b"", []
    for rec in text.splitlines():
        ts, tag, payload_text = rec.split(" ", 2)
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", ts)
        if tag == "out":
            out += unescape(payload_text)
        elif tag.startswith("in/"):
            typed += unescape(payload_text)
        else:
            notes.append(payload_text)
    assert b"console says hi\r\n" + payload in out
    assert b"conf t\r" in typed and b"reboot" not in typed
    assert any("viewer over telnet from 127.0.0.1" in n and "attached (read-only)" in n for n in notes)
    assert any("admin over telnet" in n and "left" in n for n in notes)


def unescape(text):
    out = bytearray()
    raw = text.encode("latin-1")
    i = 0
    while i < len(raw):
        if raw[i:i + 1] == b"\\" and i + 1 < len(raw):
            c = raw[i + 1:i + 2]
            if c == b"x":
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
            out += {b"r": b"\r", b"n": b"\n", b"t": b"\t"}.get(c, c)
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def test_fifty_raw_sessions_and_ssh_see_identical_output(rig):
    socks = [rig.raw_conn() for _ in range(50)]
    for s in socks:
        attached(s, rig, b"<probe>")
    child = rig.ssh()
    burst = bytes(random.Random(7).choice(b"abcdefghijklmnopqrstuvwxyz0123456789 \r\n") for _ in range(64 * 1024))
    # Drain the probes the late sessions may still hold, then send the burst.
    time.sleep(0.3)
    for s in socks:
        s.settimeout(0.05)
        try:
            while s.recv(65536):
                pass
        except socket.timeout:
            pass
        s.settimeout(20)
    rig.line.write(burst + b"<end>")
    for s in socks:
        got = recv_exactly(s, len(burst) + 5)
        assert got == burst + b"<end>"
    child.expect("<end>", timeout=20)
    state = rig.state()
    assert state.count("<protocol>raw-tcp</protocol>") == 50
    assert "<protocol>ssh</protocol>" in state
    for s in socks:
        s.close()
    child.close()


def test_escape_menu(rig):
    child = rig.ssh()
    rig.line.write(b"line one\r\nline two\r\n")
    child.expect("line two")
    child.send("\r~?")
    child.expect("escape commands:")
    child.expect("~b  send a serial BREAK")
    child.send("\r~w")
    child.expect("sessions on port01:")
    child.expect(r"\* admin over ssh from 127\.0\.0\.1")
    child.send("\r~h")
    child.expect(r"\[lifeline: recent output of port01\]")
    child.expect("line one")
    child.expect(r"end of history\]")
    child.send("\r~b")
    child.expect(r"\[lifeline: BREAK (sent|failed)")
    rig.line.drain()
    child.send("\r~~x")
    assert rig.line.read_until(b"~x").endswith(b"\r~x")
    child.send("\r~m")
    child.expect("Console ports for admin:")
    child.expect(r"Port \(number or name, q to quit\): ")
    child.send("q\r")
    child.expect(pexpect.EOF)


def has(stty_output, setting):
    return re.search(rf"(^|[\s;]){re.escape(setting)}($|[\s;])", stty_output, re.M) is not None


def test_rfc2217_settings_reach_the_pty(rig):
    def stty():
        return subprocess.run(["stty", "-F", rig.line.device, "-a"], capture_output=True,
                              text=True, check=True).stdout

    assert "speed 9600 baud" in stty()
    port = serial.serial_for_url(f"rfc2217://127.0.0.1:{rig.rfc2217}", baudrate=19200,
                                 bytesize=7, parity="E", stopbits=2, timeout=2)
    try:
        # Linux ptys force cs8 and no parity (the fake device of
        # tests/console_fake.rs proves those reach the line): speed and stop bits show.
        want = ["speed 19200 baud", "cstopb"]
        wait("the settings", lambda: all(has(stty(), w) for w in want))
        port.write(b"from pyserial\r")
        rig.line.read_until(b"from pyserial\r")
        wait("the data", lambda: (rig.line.write(b"to pyserial\n") or True) and b"to pyserial" in port.read(64))
    finally:
        port.close()
    want = ["speed 9600 baud", "-cstopb"]
    wait("the configured settings", lambda: all(has(stty(), w) for w in want))


def test_pmusers_state_and_disconnect_action(rig):
    a, b = rig.raw_conn(), rig.raw_conn()
    attached(a, rig, b"<p>")
    attached(b, rig, b"<p>")
    rc, out = rig.d.cli("pmusers")
    assert rc == 0, out
    rows = [ln.split() for ln in out.splitlines()[1:] if "raw-tcp" in ln]
    assert len(rows) == 2 and all(r[1] == "port01" for r in rows), out
    id_a, id_b = sorted(int(r[0]) for r in rows)
    state = rig.state()
    assert f"<id>{id_a}</id>" in state and "<remote-address>127.0.0.1</remote-address>" in state

    from ncclient.xml_ import to_ele
    with rig.d.connect() as m:
        m.dispatch(to_ele(f"""<action xmlns="urn:ietf:params:xml:ns:yang:1"><ports xmlns="{P}"><port>
            <name>port01</name><disconnect-session><id>{id_a}</id></disconnect-session></port></ports></action>"""))
    rc, out = rig.d.cli(f"pmusers disconnect {id_b}")
    assert rc == 0 and "closed" in out, out
    for s in (a, b):
        s.settimeout(5)
        assert wait("the close", lambda: s.recv(4096) == b"")
    assert "<session>" not in rig.state()


def test_commit_that_disables_or_deletes_the_port_closes_sessions(rig):
    child = rig.ssh()
    raw = rig.raw_conn()
    attached(raw, rig, b"<p>")
    rig.configure(extra="<enabled>false</enabled>")
    child.expect(r"\[lifeline: the port was disabled\]")
    child.expect(pexpect.EOF)
    raw.settimeout(5)
    assert wait("the raw close", lambda: raw.recv(4096) == b"")
    rig.configure(extra="<enabled>true</enabled>")
    wait("the device again", rig.present)
    child = rig.ssh()
    with rig.d.connect() as m:
        m.edit_config(target="running", config=f"""<config><ports xmlns="{P}"><port
            xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"><name>port01</name></port></ports></config>""")
    child.expect(r"\[lifeline: the port was deleted\]")
    child.expect(pexpect.EOF)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", rig.raw), timeout=2).recv(1)


def test_device_unplugged_and_back_keeps_the_session(rig):
    raw = rig.raw_conn()
    attached(raw, rig, b"<p>")
    rig.line.unplug()
    wait("device-present false", lambda: not rig.present())
    rig.line.plug()
    wait("device-present true", rig.present)
    attached(raw, rig, b"<after replug>")
    raw.sendall(b"still here\r")
    rig.line.read_until(b"still here\r")
    raw.close()


def test_garbage_on_every_listener_is_survived(rig):
    rnd = random.Random(3)
    blob = bytes(rnd.getrandbits(8) for _ in range(256 * 1024))
    iac_flood = bytes([255, 250, 44]) + b"\x01" * 70000 + bytes([255, 251]) * 1000
    for port, data in [(rig.telnet, iac_flood), (rig.telnet, blob), (rig.rfc2217, iac_flood),
                       (rig.rfc2217, blob), (rig.ssh_port, blob), (rig.raw, blob)]:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(data)
        except OSError:
            pass
        s.close()
    rig.line.drain(0.5)
    rc, out = rig.d.cli("show system hostname")
    assert rc == 0 and "hostname" in out
    child = rig.ssh()
    child.send("alive\r")
    rig.line.read_until(b"alive\r")
    child.close()


def test_alert_pattern_event_and_syslog_copy(rig):
    syslog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    syslog.bind(("127.0.0.1", 0))
    syslog.settimeout(10)
    rig.configure(extra=f"""
  <logging><syslog><enabled>true</enabled><server>127.0.0.1</server>
    <port>{syslog.getsockname()[1]}</port><facility>local3</facility></syslog></logging>
  <alert-pattern><name>bgp-down</name><pattern>%BGP-5-ADJCHANGE.*Down</pattern>
    <severity>critical</severity></alert-pattern>""")
    with rig.d.connect() as m:
        m.create_subscription()
        rig.line.write(b"*Nov 24: %BGP-5-ADJCHANGE: neighbor 10.0.0.2 Down BGP Notification\r\n")
        deadline = time.time() + 10
        alert = None
        while alert is None and time.time() < deadline:
            n = m.take_notification(timeout=1)
            if n is not None and "port-alert-match" in n.notification_xml:
                alert = n.notification_xml
        assert alert, "no port-alert-match notification"
        assert "bgp-down" in alert and "critical" in alert and "10.0.0.2 Down" in alert
    msg = syslog.recv(4096).decode(errors="replace")
    while "BGP" not in msg:
        msg = syslog.recv(4096).decode(errors="replace")
    # RFC 5424: local3 (19) * 8 + informational (6) = 158.
    assert msg.startswith("<158>1 ") and "port01: *Nov 24: %BGP-5-ADJCHANGE" in msg, msg
    syslog.close()


def test_deleting_the_user_or_its_group_membership_closes_its_session(rig):
    viewer = f"""<system xmlns="{SYS}"><authentication><user><name>viewer</name><password>$0$viewer</password></user></authentication></system>
<nacm xmlns="{NACM}"><groups><group><name>admin</name><user-name>viewer</user-name></group></groups></nacm>"""
    rig.configure(more=viewer)
    child = rig.ssh(login="viewer:port01", password="viewer")
    child.send("ok\r")
    rig.line.read_until(b"ok\r")
    with rig.d.connect() as m:
        m.edit_config(target="running", config=f"""<config><nacm xmlns="{NACM}"><groups><group><name>admin</name>
            <user-name xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete">viewer</user-name>
            </group></groups></nacm></config>""")
    child.expect(r"\[lifeline: access revoked\]")
    child.expect(pexpect.EOF)
    rig.configure(more=viewer)
    child = rig.ssh(login="viewer:port01", password="viewer")
    with rig.d.connect() as m:
        m.edit_config(target="running", config=f"""<config><system xmlns="{SYS}"><authentication><user
            xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"><name>viewer</name></user>
            </authentication></system></config>""")
    child.expect(r"\[lifeline: access revoked\]")
    child.expect(pexpect.EOF)


def test_power_menu_goes_through_the_datastore_as_the_user(rig):
    power = f"""<power xmlns="urn:lifeline:params:xml:ns:yang:lifeline-power"><device><name>pdu1</name>
  <nut><host>127.0.0.1</host><port>{free_port()}</port><ups>ups1</ups></nut><outlet><id>3</id></outlet></device></power>"""
    rig.configure(extra="<power-outlet><device>pdu1</device><outlet>3</outlet></power-outlet>", more=power)
    child = rig.ssh()
    child.send("\r~p")
    child.expect("power outlets of port01")
    child.expect("1  pdu1 outlet 3")
    child.expect("e.g. '1 cycle'; Enter to return: ")
    child.send("1 cycle\r")
    # Nothing answers on the UPS's port: the driver's error comes back, the session goes on.
    child.expect(r"pdu1 outlet 3: cycle failed: [^\r\n]*refused")
    child.send("still\r")
    assert b"cycle" not in rig.line.read_until(b"still\r"), "the menu's input reached the console"
    child.close()


@pytest.fixture
def netns():
    """A network namespace joined to the host by a veth pair: (name, host ip, ns ip)."""
    n = os.getpid() % 250 + 1
    name, host_if, ns_if = f"llt{os.getpid()}", f"llA{os.getpid()}"[:15], f"llB{os.getpid()}"[:15]
    host_ip, ns_ip = f"10.201.{n}.1", f"10.201.{n}.2"

    def sh(*cmd):
        subprocess.run(cmd, check=True, capture_output=True)

    try:
        sh("ip", "netns", "add", name)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot create a network namespace here: {e}")
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", name)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        sh("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up")
        yield name, host_ip, ns_if
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


@pytest.mark.slow
def test_a_client_whose_network_dies_is_dropped_within_a_minute(rig, netns):
    name, host_ip, ns_if = netns
    with rig.d.connect() as m:
        m.edit_config(target="running", config=f"""<config><management xmlns="{SYSM}"><console-access>
            <address>{host_ip}</address></console-access></management></config>""")
    client = subprocess.Popen(
        ["ip", "netns", "exec", name, sys.executable, "-c",
         f"import socket,time; s=socket.create_connection(('{host_ip}', {rig.raw}), timeout=10); "
         "print('up', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "up"
        wait("the session", lambda: "<protocol>raw-tcp</protocol>" in rig.state())
        # The link goes: no FIN, no RST ever reaches the appliance.
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", ns_if, "down"], check=True)
        gone = time.time()
        wait("the dead session to close", lambda: "<session>" not in rig.state(), timeout=75)
        assert time.time() - gone < 65
    finally:
        client.kill()
        client.wait()


def test_sigterm_tells_every_session_and_exits_in_time(rig):
    """SIGTERM: the console session and the CLI get a one-line notice, the
    NETCONF session ends (its subscriber sees netconf-session-end first), the
    transcript is on disk, the process is gone within 3 s, and startup is intact."""
    d = rig.d
    console = rig.ssh()
    cli = pexpect.spawn("sshpass", ["-p", "admin"] + d.ssh_args()[:1] + ["-tt"] + d.ssh_args()[1:], timeout=15)
    cli.expect("admin@lifeline> ")
    watcher = d.connect()
    watcher.dispatch(to_ele('<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"/>'))
    other = d.connect()
    startup = (d.state / "startup.xml").read_text()
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    console.expect(r"lifeline is shutting down", timeout=5)
    cli.expect(r"lifeline is shutting down", timeout=5)
    ends = []
    deadline = time.time() + 5
    while time.time() < deadline and not ends:
        n = watcher.take_notification(timeout=0.5)
        if n is not None and "netconf-session-end" in n.notification_xml:
            ends.append(n.notification_xml)
    d.proc.wait(5)
    took = time.monotonic() - t0
    assert took < 3.0, f"exited after {took:.2f} s"
    assert ends, "no netconf-session-end before the exit"
    assert "<termination-reason>other</termination-reason>" in ends[0]
    transcript = (d.state / "transcripts" / "port01.log").read_text()
    assert "lifeline is shutting down" in transcript
    assert (d.state / "startup.xml").read_text() == startup
    for m in (watcher, other):
        try:
            m.close_session()
        except Exception:
            pass


def test_send_action_writes_to_the_device_and_sessions_see_the_echo(rig):
    from ncclient.operations.rpc import RPCError
    raw = rig.raw_conn()
    attached(raw, rig, b"<p>")

    def send(m, port, data):
        return m.dispatch(to_ele(f"""<action xmlns="urn:ietf:params:xml:ns:yang:1"><ports xmlns="{P}"><port>
            <name>{port}</name><send><data>{data}</data></send></port></ports></action>"""))

    with rig.d.connect() as m:
        send(m, "port01", "show clock&#13;")
        rig.line.read_until(b"show clock\r")
        # The router's echo goes to the sessions as usual.
        rig.line.write(b"show clock\r\n12:00:00\r\n")
        got = b""
        while b"12:00:00" not in got:
            got += raw.recv(4096)
        with pytest.raises(RPCError) as e:
            send(m, "port99", "x")
        assert "port99" in str(e.value)
        rig.line.unplug()
        wait("device-present false", lambda: not rig.present())
        with pytest.raises(RPCError) as e:
            send(m, "port01", "x")
        assert "not open" in str(e.value)
    raw.close()
