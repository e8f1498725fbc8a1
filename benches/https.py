#!/usr/bin/env python3
"""HTTPS face benchmark: lifelined's RESTCONF against its own NETCONF, and its web
console against its own SSH console, on one lifelined in one run on this machine.

1. Reading configuration. The same data three ways from the running datastore:
     - small: one list entry, ietf-system user "admin";
     - 1,000 entries: ietf-system authentication with user0001..user1000 (set up
       as benches/netconf.py does: edit-config to the candidate, commit) plus admin;
     - whole: all of running (content=config), those 1,001 users included.
   NETCONF: <get-config> of running (a subtree filter for the first two, none for
   the whole) on one kept-open bare paramiko channel with raw chunked framing
   (benches/netconf.py's Session, not ncclient; TCP_NODELAY set, as http.client
   does: with Nagle on, paramiko stalls a quarter of the 1,000-entry requests for a
   delayed ACK, about 40 ms). RESTCONF: GET
   /restconf/data/ietf-system:system/authentication/user=admin, .../authentication
   and /restconf/data, each with ?content=config, on one kept-alive
   http.client.HTTPSConnection (TLS verified against {state_dir}/https-cert.pem),
   Accept application/yang-data+xml (like with like) and application/yang-data+json,
   with HTTP Basic auth (admin:admin), and XML once more with the Bearer token from
   POST /login (Basic makes the server check the password hash on every request;
   the token shows what that costs). Each request's whole answer is read. The
   connection must stay the same one throughout (a server that closes it fails
   the run rather than silently timing TLS handshakes). Checked once before timing:
   every answer is 200 with the asked-for media type and holds the same users
   (1, 1,001, 1,001) as NETCONF's. Warm-up first; then rounds in which each client
   runs a batch in turn, the order rotating every round, so the machine's noise
   falls on all alike. Median and p95 per request over all rounds; the ratio is
   RESTCONF / NETCONF (below 1: RESTCONF is faster).

2. Keystroke round trip. One console port on a socat pty pair; a separate echo
   process plays the device on the far end (raw termios, echoes every byte back,
   so the benchmark's own threads never share the GIL with it). A byte typed into
   a session goes client -> lifelined -> device -> echo -> lifelined -> client;
   timed from the send to the byte's arrival. Clients: the web console (TLS socket,
   POST /login for the session cookie and CSRF token, WebSocket handshake to
   /api/consoles/port01/terminal?csrf=..., RFC 6455 framing by hand: masked binary
   client frames; text/binary/continuation, ping and close from the server), the SSH
   console (paramiko, pty + shell on the port's own SSH listener) and, as the
   floor, raw TCP (the port's raw listener, no login, no crypto). A fresh session per
   run, attached first (a probe typed until it comes back, then everything drained);
   in the first (warm-up) run each client also types a 3,000-byte block that must
   come back whole (one client frame, 126 length form); runs interleaved, order
   rotating. Median and p95 over all runs; the ratio is
   web / SSH (below 1: the web console is faster). Both clients are Python, and
   paramiko reads its channel on a thread of its own, so client costs are in the
   figures; the raw TCP row shows how much of a round trip is not the protocol's.

Exits non-zero on errors (a request that fails, a closed connection, answers that
disagree, a keystroke that never comes back), never on a ratio.

    cargo build --release
    LIFELINED=target/release/lifelined /opt/lifeline-venv/bin/python benches/https.py [--quick]
"""
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import paramiko

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The standard library's platform, not benches/platform.py (the script's own
# directory comes first on sys.path).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import platform  # noqa: E402
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "py"))
from conftest import factory_config, wait_port  # noqa: E402
from netconf import REMOVE_USERS, Session, free_port, users_config  # noqa: E402

LIFELINED = os.environ.get("LIFELINED", str(ROOT / "target" / "release" / "lifelined"))
QUICK = "--quick" in sys.argv
SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
XML = "application/yang-data+xml"
JSON = "application/yang-data+json"
BASIC = "Basic " + base64.b64encode(b"admin:admin").decode()
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# (name, NETCONF get-config body, RESTCONF path, users expected, rounds, batch)
DATASETS = [
    ("one list entry (user admin)",
     f'<get-config><source><running/></source><filter type="subtree"><system xmlns="{SYS}"><authentication>'
     f'<user><name>admin</name></user></authentication></system></filter></get-config>',
     "/restconf/data/ietf-system:system/authentication/user=admin?content=config", 1,
     6 if QUICK else 20, 10 if QUICK else 30),
    ("1,000 list entries (ietf-system authentication)",
     f'<get-config><source><running/></source><filter type="subtree"><system xmlns="{SYS}"><authentication/>'
     f'</system></filter></get-config>',
     "/restconf/data/ietf-system:system/authentication?content=config", 1001,
     4 if QUICK else 10, 3 if QUICK else 10),
    ("all of running (with the 1,000 entries)",
     "<get-config><source><running/></source></get-config>",
     "/restconf/data?content=config", 1001,
     4 if QUICK else 10, 3 if QUICK else 10),
]
WARMUP = 5 if QUICK else 20
KEY_RUNS = 3 if QUICK else 5
KEYSTROKES = 200 if QUICK else 500


class BenchError(RuntimeError):
    pass


def p95(times):
    s = sorted(times)
    return s[min(len(s) - 1, int(len(s) * 0.95))]


# ---------------------------------------------------------------- the daemon

class Lifelined:
    """lifelined on free loopback ports: NETCONF (admin's key), CLI, HTTPS and one
    console port (SSH, raw TCP, Telnet listeners) on `device`."""

    def __init__(self, d, key_pub, device):
        self.dir = d
        self.netconf, self.cli, self.https = free_port(), free_port(), free_port()
        self.ssh, self.raw, self.telnet = free_port(), free_port(), free_port()
        cfg = factory_config(self.netconf, self.cli, self.https)
        alg, data = key_pub.split()[:2]
        admin = "<name>admin</name>\n      <password>"
        if admin not in cfg or "</management>" not in cfg:
            raise BenchError("the factory configuration no longer has the admin user or <management> "
                             "where this benchmark expects them")
        cfg = cfg.replace(admin, f"<name>admin</name>\n      <authorized-key><name>bench</name>"
                                 f"<algorithm>{alg}</algorithm><key-data>{data}</key-data>"
                                 f"</authorized-key>\n      <password>", 1)
        cfg = cfg.replace("</management>",
                          "  <console-access><address>127.0.0.1</address></console-access>\n</management>", 1)
        cfg += f"""
<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports"><port>
  <name>port01</name><number>1</number><device>{device}</device>
  <access><ssh><port>{self.ssh}</port></ssh><telnet><port>{self.telnet}</port></telnet>
    <raw-tcp><enabled>true</enabled><port>{self.raw}</port></raw-tcp><max-sessions>64</max-sessions></access>
</port></ports>
"""
        (d / "factory.xml").write_text(cfg)
        self.log = d / "lifelined.log"
        self.state = d / "state"
        self.proc = subprocess.Popen([LIFELINED, "--state-dir", str(self.state), "--factory-config",
                                      str(d / "factory.xml")], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"), env={**os.environ, "RUST_LOG": "warn"})
        for port in (self.netconf, self.https, self.ssh, self.raw):
            wait_port(port, self.proc)

    def check(self):
        if self.proc.poll() is not None:
            raise BenchError(f"lifelined exited with {self.proc.returncode}; see {self.log}")

    def ssl_context(self):
        pem = self.state / "https-cert.pem"
        if pem.exists():
            return ssl.create_default_context(cafile=str(pem)), f"verified against {pem.name}"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx, f"NOT verified: no {pem} (the contract says it is there)"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- RESTCONF / NETCONF

class Restconf:
    """One kept-alive HTTPS connection; fails if the server ever closes it."""

    def __init__(self, ll, ctx):
        self.conn = http.client.HTTPSConnection("127.0.0.1", ll.https, context=ctx, timeout=60)
        self.conn.connect()
        self.sock = self.conn.sock

    def request(self, method, path, headers, body=None, want=200):
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != want:
            raise BenchError(f"{method} {path} {headers} -> {r.status} {r.reason}\n"
                             f"{r.getheaders()}\n{data[:2000].decode(errors='replace')}")
        if self.conn.sock is not self.sock:
            raise BenchError(f"{method} {path}: the server closed the kept-alive connection "
                             f"(answer headers {r.getheaders()})")
        return r, data

    def get(self, path, accept, auth):
        return self.request("GET", path, {"Accept": accept, "Authorization": auth})[1]

    def close(self):
        self.conn.close()


def login(ll, ctx):
    """POST /login on a connection of its own -> (cookie, csrf, token)."""
    conn = http.client.HTTPSConnection("127.0.0.1", ll.https, context=ctx, timeout=30)
    body = json.dumps({"username": "admin", "password": "admin"})
    conn.request("POST", "/login", body=body, headers={"Content-Type": "application/json",
                                                       "Accept": "application/json"})
    r = conn.getresponse()
    data = r.read()
    cookie = next((v.split(";")[0] for k, v in r.getheaders()
                   if k.lower() == "set-cookie" and v.startswith("lifeline_session=")), None)
    conn.close()
    if r.status != 200 or cookie is None:
        raise BenchError(f"POST /login {body} -> {r.status} {r.reason}\n{r.getheaders()}\n"
                         f"{data[:2000].decode(errors='replace')}")
    try:
        answer = json.loads(data)
        return cookie, answer["csrf"], answer["token"]
    except (ValueError, KeyError) as e:
        raise BenchError(f"POST /login -> 200 but the body is not {{user, csrf, token}} ({e}): {data[:500]!r}")


def dechunk(raw, chunked):
    if not chunked:
        return raw[:raw.rindex(b"]]>]]>")]
    out, i = [], 0
    header = re.compile(rb"\n#(\d+)\n|\n##\n")
    while True:
        m = header.match(raw, i)
        if not m:
            raise BenchError(f"bad NETCONF chunk framing at byte {i}: {raw[i:i + 40]!r}")
        if m.group(1) is None:
            return b"".join(out)
        n = int(m.group(1))
        out.append(raw[m.end():m.end() + n])
        i = m.end() + n


def xml_users(doc):
    root = ET.fromstring(doc)
    return sorted(u.findtext(f"{{{SYS}}}name") or "" for u in root.iter(f"{{{SYS}}}user"))


def json_users(v, module=None):
    """Names of ietf-system user list entries anywhere in an RFC 7951 document."""
    names = []
    if isinstance(v, dict):
        for k, x in v.items():
            mod, _, name = k.rpartition(":")
            m = mod or module
            if name == "user" and m == "ietf-system" and isinstance(x, list):
                names += [e.get("name", "") for e in x]
            else:
                names += json_users(x, m)
    elif isinstance(v, list):
        for x in v:
            names += json_users(x, module)
    return names


def check_answers(name, nc, rc, body, path, expect, token):
    """Once per dataset: every client's answer holds the same users."""
    sizes = {}
    reply = nc.rpc(body)
    doc = dechunk(reply, nc.chunked)
    want = xml_users(doc)
    sizes["NETCONF"] = len(doc)
    if len(want) != expect:
        raise BenchError(f"{name}: NETCONF get-config holds {len(want)} users, expected {expect}")
    for label, accept, auth in (("XML", XML, BASIC), ("JSON", JSON, BASIC), ("XML, token", XML, token)):
        r, data = rc.request("GET", path, {"Accept": accept, "Authorization": auth})
        ctype = (r.getheader("Content-Type") or "").split(";")[0].strip()
        if ctype != accept:
            raise BenchError(f"GET {path} Accept: {accept} -> Content-Type {ctype!r}")
        got = xml_users(data) if accept == XML else sorted(json_users(json.loads(data)))
        if got != want:
            raise BenchError(f"{name}: RESTCONF {label} GET {path} holds {len(got)} users "
                             f"({got[:3]}...), NETCONF {len(want)} ({want[:3]}...)")
        if auth == BASIC:
            sizes[f"RESTCONF {label}"] = len(data)
    return sizes


def read_bench(ll, key, ctx, token):
    nc = Session(ll.netconf, "admin", key)
    # paramiko leaves Nagle on: a request written while its last window adjust is
    # unacknowledged then waits for the server's delayed ACK (about 40 ms, on a
    # quarter of the 1,000-entry get-configs here). http.client sets TCP_NODELAY;
    # so does this, so that neither client adds stalls of its own.
    nc.client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rc = Restconf(ll, ctx)
    bearer = f"Bearer {token}"
    clients = [
        ("NETCONF", None),
        ("RESTCONF XML", (XML, BASIC)),
        ("RESTCONF JSON", (JSON, BASIC)),
        ("RESTCONF XML, token", (XML, bearer)),
    ]
    results = []
    nc.rpc(f"<edit-config><target><candidate/></target>{REMOVE_USERS}</edit-config>")
    nc.rpc("<commit/>")
    for ds, (name, body, path, expect, rounds, batch) in enumerate(DATASETS):
        if ds == 1:
            nc.rpc(f"<edit-config><target><candidate/></target>{users_config(1000)}</edit-config>")
            nc.rpc("<commit/>")
        print(f"measuring {name} ...", file=sys.stderr)
        sizes = check_answers(name, nc, rc, body, path, expect, bearer)

        def runner(client):
            if client is None:
                return lambda: nc.rpc(body)
            accept, auth = client
            return lambda: rc.get(path, accept, auth)

        fns = [runner(c) for _, c in clients]
        for fn in fns:
            for _ in range(WARMUP if ds == 0 else max(3, WARMUP // 4)):
                fn()
        times = [[] for _ in clients]
        for r in range(rounds):
            for k in range(len(clients)):
                i = (r + k) % len(clients)
                fn, out = fns[i], times[i]
                for _ in range(batch):
                    t = time.perf_counter()
                    fn()
                    out.append(time.perf_counter() - t)
            ll.check()
        results.append((name, expect, sizes, times))
    rc.close()
    nc.close()
    return [c for c, _ in clients], results


# ---------------------------------------------------------------- console clients

class Closed(RuntimeError):
    pass


class RawClient:
    label = "raw TCP"

    def __init__(self, ll, **_):
        self.sock = socket.create_connection(("127.0.0.1", ll.raw), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed("raw TCP session closed")
        return data

    def close(self):
        self.sock.close()


class SshClient:
    label = "SSH console (paramiko)"

    def __init__(self, ll, key, **_):
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect("127.0.0.1", port=ll.ssh, username="admin", pkey=key, password="admin",
                            allow_agent=False, look_for_keys=False, timeout=10)
        self.client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.chan = self.client.get_transport().open_session()
        self.chan.get_pty(term="xterm", width=80, height=24)
        self.chan.invoke_shell()

    def settimeout(self, t):
        self.chan.settimeout(t)

    def send(self, data):
        self.chan.sendall(data)

    def recv(self):
        data = self.chan.recv(65536)
        if not data:
            raise Closed("SSH console session closed")
        return data

    def close(self):
        self.client.close()


class WebClient:
    """The web console's WebSocket, by hand (RFC 6455) over a TLS socket."""
    label = "web console (WebSocket)"

    def __init__(self, ll, ctx, cookie, csrf, **_):
        raw = socket.create_connection(("127.0.0.1", ll.https), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        ws_key = base64.b64encode(os.urandom(16)).decode()
        target = f"/api/consoles/port01/terminal?csrf={csrf}"
        request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{ll.https}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {ws_key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\nOrigin: https://127.0.0.1:{ll.https}\r\n"
                   f"Cookie: {cookie}\r\n\r\n")
        self.sock.sendall(request.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = self.sock.recv(65536)
            if not data:
                raise BenchError(f"WebSocket handshake: closed after {buf!r}\nrequest:\n{request}")
            buf += data
            if len(buf) > 65536:
                raise BenchError(f"WebSocket handshake: no end of headers in {buf[:2000]!r}")
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        self.buf = bytearray(self.buf)
        self.largest = 0  # the largest server frame's payload
        lines = head.decode(errors="replace").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        accept = base64.b64encode(hashlib.sha1((ws_key + WS_GUID).encode()).digest()).decode()
        if (not re.match(r"HTTP/1\.1 101\b", lines[0]) or headers.get("upgrade", "").lower() != "websocket"
                or "upgrade" not in headers.get("connection", "").lower()
                or headers.get("sec-websocket-accept") != accept):
            raise BenchError(f"WebSocket handshake refused or wrong (expected Sec-WebSocket-Accept {accept})\n"
                             f"request:\n{request}answer:\n{buf[:2000].decode(errors='replace')}")

    def settimeout(self, t):
        self.sock.settimeout(t)

    def _send_frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        keys = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")
        self.sock.sendall(head + mask + masked)

    def send(self, data):
        self._send_frame(0x2, data)

    def _frame(self):
        """The next whole frame in the buffer as (opcode, payload), or None."""
        b = self.buf
        if len(b) < 2:
            return None
        if b[0] & 0x70:
            raise BenchError(f"WebSocket frame with RSV bits set (no extension was agreed): {bytes(b[:16])!r}")
        if b[1] & 0x80:
            raise BenchError(f"masked WebSocket frame from the server (RFC 6455 5.1): {bytes(b[:16])!r}")
        n, i = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, i = struct.unpack_from("!H", b, 2)[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, i = struct.unpack_from("!Q", b, 2)[0], 10
        if len(b) < i + n:
            return None
        opcode, payload = b[0] & 0x0F, bytes(b[i:i + n])
        del b[:i + n]
        self.largest = max(self.largest, n)
        return opcode, payload

    def recv(self):
        """Payload bytes of the next data frame (binary, text or continuation);
        answers pings; raises Closed on a close frame or EOF."""
        while True:
            frame = self._frame()
            if frame is None:
                data = self.sock.recv(65536)
                if not data:
                    raise Closed("web console: TLS connection closed without a close frame")
                self.buf += data
                continue
            opcode, payload = frame
            if opcode in (0x0, 0x1, 0x2):
                if payload:
                    return payload
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(f"web console: close frame {code} {payload[2:]!r}")
            elif opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode != 0xA:
                raise BenchError(f"WebSocket frame with unknown opcode {opcode:#x}")

    def close(self):
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


def drain(c, quiet=0.2):
    c.settimeout(quiet)
    try:
        while True:
            c.recv()
    except socket.timeout:
        pass
    c.settimeout(10)


def attach(c, timeout=20):
    """Types probes until one comes back through the device's echo: the session
    then both types into the device and carries its output. Drains the rest."""
    deadline = time.time() + timeout
    i = 0
    c.settimeout(0.3)
    while time.time() < deadline:
        probe = b"<probe %d>" % i
        i += 1
        c.send(probe)
        got = b""
        try:
            while probe not in got:
                got = (got + c.recv())[-4096:]
        except socket.timeout:
            continue
        drain(c)
        return
    raise BenchError(f"{c.label}: no typed probe came back from the device in {timeout} s")


BLOCK = bytes(b"0123456789abcdefghijklmnopqrstuvwxyz"[i % 36] for i in range(3000))


def block_check(c):
    """A 3,000-byte block typed at once (one WebSocket frame, 126 length form) must
    come back whole and in order."""
    c.send(BLOCK)
    got = b""
    try:
        while len(got) < len(BLOCK):
            got += c.recv()
    except socket.timeout:
        pass
    if got != BLOCK:
        n = next((i for i, (x, y) in enumerate(zip(got, BLOCK)) if x != y), min(len(got), len(BLOCK)))
        raise BenchError(f"{c.label}: a {len(BLOCK)}-byte typed block came back as {len(got)} bytes, "
                         f"first difference at {n}: {got[n:n + 40]!r}")


def round_trips(c, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        c.send(b"a")
        got = b""
        try:
            while b"a" not in got:
                got += c.recv()
        except socket.timeout:
            raise BenchError(f"{c.label}: a typed byte did not come back in 10 s (got {got!r})")
        times.append(time.perf_counter() - start)
    return times


ECHO = r"""
import os, sys, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
while True:
    b = os.read(fd, 4096)
    if not b:
        break
    while b:
        b = b[os.write(fd, b):]
"""


def keystroke_bench(ll, key, ctx, cookie, csrf):
    kinds = [WebClient, SshClient, RawClient]
    times = {k: [] for k in kinds}
    largest = 0
    print("measuring keystroke round trips ...", file=sys.stderr)
    for r in range(KEY_RUNS + 1):  # run 0 is the warm-up
        for j in range(len(kinds)):
            kind = kinds[(r + j) % len(kinds)]
            c = kind(ll, key=key, ctx=ctx, cookie=cookie, csrf=csrf)
            try:
                attach(c)
                if r == 0:
                    block_check(c)
                t = round_trips(c, KEYSTROKES if r else KEYSTROKES // 5)
            except Closed as e:
                raise BenchError(f"{c.label}: {e}")
            finally:
                c.close()
            largest = max(largest, getattr(c, "largest", 0))
            if r:
                times[kind] += t
            ll.check()
    return [(k.label, times[k]) for k in kinds], largest


# ---------------------------------------------------------------- main

def command_output(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10, cwd=ROOT).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_info():
    binary = Path(LIFELINED)
    st = binary.stat()
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs (nproc {command_output(['nproc'])}), "
          f"{platform.platform()}, Python {platform.python_version()}, paramiko {paramiko.__version__}, "
          f"{ssl.OPENSSL_VERSION}")
    print(f"lifelined: {binary.resolve()} ({st.st_size} bytes, built "
          f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(st.st_mtime))}; "
          f"source tree {command_output(['git', 'describe', '--always', '--dirty'])})")
    sys.stdout.flush()


def main():
    if not os.access(LIFELINED, os.X_OK):
        sys.exit(f"no lifelined binary at {LIFELINED}: run cargo build --release or set LIFELINED")
    machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="lifeline-bench-https-"))
    ll = socat = echo = None
    failed = True
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "client")], check=True)
        key = paramiko.Ed25519Key.from_private_key_file(str(tmp / "client"))
        device, far = tmp / "ttyA", tmp / "ttyB"
        socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={device}", f"pty,raw,echo=0,link={far}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not (device.exists() and far.exists()):
            if time.time() > deadline or socat.poll() is not None:
                raise BenchError("socat did not make its pty pair")
            time.sleep(0.02)
        echo = subprocess.Popen([sys.executable, "-c", ECHO, str(far)])
        ll = Lifelined(tmp, (tmp / "client.pub").read_text(), device)
        ctx, tls = ll.ssl_context()
        cookie, csrf, token = login(ll, ctx)
        clients, reads = read_bench(ll, key, ctx, token)
        keys, largest = keystroke_bench(ll, key, ctx, cookie, csrf)
        failed = False
    finally:
        if ll:
            ll.stop()
        for p in (echo, socat):
            if p:
                p.kill()
                p.wait()
        if failed and ll:
            print(f"lifelined's log and configuration kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"TLS: {tls}; one kept-alive connection for all RESTCONF requests")
    print()
    print("Reading running: per request, median / p95 (ms, lower is better); ratio = RESTCONF / NETCONF")
    print()
    print("| data | " + " | ".join(clients) + " | " + " | ".join(f"ratio {c[9:]}" for c in clients[1:]) + " |")
    print("|---" * (2 * len(clients)) + "|")
    for name, expect, sizes, times in reads:
        for stat, fn in (("median", statistics.median), ("p95", p95)):
            v = [fn(t) * 1000 for t in times]
            print(f"| {name}, {stat} | " + " | ".join(f"{x:.3f}" for x in v) + " | "
                  + " | ".join(f"{x / v[0]:.2f}" for x in v[1:]) + " |")
    print()
    for name, expect, sizes, times in reads:
        print(f"{name}: the same {expect} user entries in every answer; body bytes "
              + ", ".join(f"{k} {v}" for k, v in sizes.items())
              + f"; {len(times[0])} requests per client")
    print()
    print(f"Keystroke round trip (us, lower is better): {KEY_RUNS} interleaved runs of {KEYSTROKES} "
          f"keystrokes per client, a fresh session each run")
    print()
    print("| client | median | p95 |")
    print("|---|---|---|")
    for label, t in keys:
        print(f"| {label} | {statistics.median(t) * 1e6:.1f} | {p95(t) * 1e6:.1f} |")
    web, sshc = keys[0][1], keys[1][1]
    print()
    print(f"ratio web / SSH: median {statistics.median(web) / statistics.median(sshc):.2f}, "
          f"p95 {p95(web) / p95(sshc):.2f} (below 1: the web console is faster)")
    print(f"every client carried a {len(BLOCK)}-byte typed block back whole; the largest WebSocket "
          f"frame from the server held {largest} bytes")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"error: {e}")
