#!/usr/bin/env python3
"""Console ports: lifelined against ser2net on the same machine in one run.

Each server gets its own socat pty pair; the benchmark plays the router on the far
end. Rows: throughput device -> client (raw TCP and Telnet), keystroke round trip
(client -> device -> client, raw TCP and Telnet), and memory per idle session with
100 sessions. lifelined keeps its transcript on (every byte to disk), as shipped.

    cargo build --release
    LIFELINED=target/release/lifelined /opt/lifeline-venv/bin/python benches/console.py
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "py"))
from conftest import factory_config, free_port, wait_port  # noqa: E402

LIFELINED = os.environ.get("LIFELINED", str(ROOT / "target" / "release" / "lifelined"))
THROUGHPUT_BYTES = 8 * 1024 * 1024
ROUND_TRIPS = 2000
SESSIONS = 100
RUNS = 3


class Pty:
    def __init__(self, d, name):
        self.device = f"{d}/{name}A"
        far = f"{d}/{name}B"
        self.proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={self.device}",
                                      f"pty,raw,echo=0,link={far}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(far) and os.path.exists(self.device):
                break
            time.sleep(0.02)
        self.fd = os.open(far, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def write_all(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def close(self):
        os.close(self.fd)
        self.proc.kill()
        self.proc.wait()


def recv_until(sock, needle, limit=1 << 20):
    got = b""
    while needle not in got:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"closed before {needle!r}: {got[-200:]!r}")
        got += chunk
        if len(got) > limit:
            got = got[-4096:]
    return got


def attach(pty, sock):
    """Waits until the session carries the device's output."""
    sock.settimeout(0.2)
    for i in range(100):
        probe = f"<probe{i}>".encode()
        pty.write_all(probe)
        try:
            got = b""
            deadline = time.time() + 0.5
            while probe not in got and time.time() < deadline:
                got += sock.recv(65536)
            if probe in got:
                break
        except socket.timeout:
            pass
    else:
        raise RuntimeError("the session never carried data")
    sock.settimeout(30)
    # Let late probes arrive and drop them.
    time.sleep(0.2)
    sock.settimeout(0.1)
    try:
        while sock.recv(65536):
            pass
    except socket.timeout:
        pass
    sock.settimeout(30)


class Server:
    def __init__(self, name, pty, raw_port, telnet_port, login):
        self.name, self.pty, self.raw_port, self.telnet_port, self.login = (
            name, pty, raw_port, telnet_port, login)
        self.proc = None

    def connect(self, telnet):
        s = socket.create_connection(("127.0.0.1", self.telnet_port if telnet else self.raw_port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(30)
        if telnet and self.login:
            recv_until(s, b"login: ")
            s.sendall(b"admin\r\n")
            recv_until(s, b"Password: ")
            s.sendall(b"admin\r\n")
            recv_until(s, b"? for help]")
        attach(self.pty, s)
        return s

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def throughput(server, telnet):
    s = server.connect(telnet)
    payload = bytes(0x20 + (i % 95) for i in range(THROUGHPUT_BYTES))
    start = time.perf_counter()
    writer = threading.Thread(target=server.pty.write_all, args=(payload,))
    writer.start()
    got = 0
    while got < len(payload):
        chunk = s.recv(1 << 20)
        if not chunk:
            raise RuntimeError("closed mid-transfer")
        got += len(chunk)
    elapsed = time.perf_counter() - start
    writer.join()
    s.close()
    return len(payload) / elapsed / 1e6


def echo_device(pty, stop):
    while not stop.is_set():
        try:
            b = os.read(pty.fd, 4096)
        except OSError:
            return
        if b:
            os.write(pty.fd, b)


def round_trips(server, telnet):
    s = server.connect(telnet)
    stop = threading.Event()
    t = threading.Thread(target=echo_device, args=(server.pty, stop), daemon=True)
    t.start()
    times = []
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter()
        s.sendall(b"a")
        got = b""
        while b"a" not in got:
            got += s.recv(64)
        times.append((time.perf_counter() - start) * 1e6)
    stop.set()
    s.close()
    server.pty.write_all(b"x")  # wakes the echo thread so it sees stop
    t.join(2)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def memory(server):
    time.sleep(0.5)
    before = server.rss_kib()
    socks = [server.connect(False) for _ in range(SESSIONS)]
    time.sleep(0.5)
    after = server.rss_kib()
    # Sanity: every session gets a burst.
    server.pty.write_all(b"<burst>" * 100)
    for s in socks:
        recv_until(s, b"<burst>" * 1)
    for s in socks:
        s.close()
    return (after - before) / SESSIONS


def start_lifelined(d, pty):
    netconf, cli, raw, telnet = (free_port() for _ in range(4))
    cfg = factory_config(netconf, cli).replace(
        "</management>",
        "<console-access><address>127.0.0.1</address></console-access></management>")
    cfg += f"""
<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports"><port>
  <name>port01</name><number>1</number><device>{pty.device}</device>
  <access><ssh><enabled>false</enabled></ssh><telnet><port>{telnet}</port></telnet>
    <raw-tcp><enabled>true</enabled><port>{raw}</port></raw-tcp><max-sessions>256</max-sessions></access>
  <logging><level>output</level></logging>
</port></ports>"""
    (Path(d) / "factory.xml").write_text(cfg)
    srv = Server("lifelined", pty, raw, telnet, login=True)
    srv.proc = subprocess.Popen([LIFELINED, "--state-dir", f"{d}/state", "--factory-config",
                                 f"{d}/factory.xml"], stdout=subprocess.DEVNULL,
                                stderr=open(f"{d}/lifelined.log", "w"),
                                env={**os.environ, "RUST_LOG": "warn"})
    wait_port(raw, srv.proc)
    return srv


def start_ser2net(d, pty_raw, pty_telnet, chardelay):
    raw, telnet = free_port(), free_port()
    # ser2net waits a few character times for more output before sending
    # (chardelay, on by default): measured as shipped and with it off.
    opts = "" if chardelay else "\n      chardelay: false"
    conf = f"""%YAML 1.1
---
connection: &raw
    accepter: tcp,127.0.0.1,{raw}
    connector: serialdev,{pty_raw.device},9600n81,local
    options:
      max-connections: {SESSIONS + 8}{opts}
connection: &telnet
    accepter: telnet,tcp,127.0.0.1,{telnet}
    connector: serialdev,{pty_telnet.device},9600n81,local
    options:
      max-connections: {SESSIONS + 8}{opts}
"""
    name = "ser2net" if chardelay else "ser2net-nodelay"
    (Path(d) / f"{name}.yaml").write_text(conf)
    srv = Server(name, pty_raw, raw, telnet, login=False)
    srv.proc = subprocess.Popen(["ser2net", "-n", "-d", "-c", f"{d}/{name}.yaml"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{d}/{name}.log", "w"))
    wait_port(raw, srv.proc)
    srv.telnet_pty = pty_telnet
    return srv


def with_pty(server, telnet, fn):
    """ser2net's Telnet accepter has its own pty pair."""
    saved = server.pty
    if telnet and hasattr(server, "telnet_pty"):
        server.pty = server.telnet_pty
    try:
        return fn(server, telnet)
    finally:
        server.pty = saved


def main():
    d = tempfile.mkdtemp(prefix="ll-bench-console-")
    ptys = [Pty(d, n) for n in ("ll", "s2nraw", "s2ntel", "s2nraw2", "s2ntel2")]
    servers = [start_lifelined(d, ptys[0]), start_ser2net(d, ptys[1], ptys[2], True),
               start_ser2net(d, ptys[3], ptys[4], False)]
    rows = []
    try:
        for telnet in (False, True):
            proto = "Telnet" if telnet else "raw TCP"
            tp = [statistics.median(with_pty(srv, telnet, throughput) for _ in range(RUNS))
                  for srv in servers]
            rows.append((f"throughput device->client, {proto} (MB/s, higher is better)", tp))
            rt = [with_pty(srv, telnet, round_trips) for srv in servers]
            rows.append((f"keystroke round trip, {proto}, median (us, lower is better)",
                         [r[0] for r in rt]))
            rows.append((f"keystroke round trip, {proto}, p99 (us, lower is better)",
                         [r[1] for r in rt]))
        rows.append((f"memory per idle raw TCP session, {SESSIONS} sessions (KiB, lower is better)",
                     [memory(srv) for srv in servers]))
    finally:
        for srv in servers:
            srv.proc.terminate()
            srv.proc.wait()
        for p in ptys:
            p.close()
    print(f"lifelined: {LIFELINED}; {os.cpu_count()} CPUs; lifelined transcript on (level output)")
    print("| row | lifelined | ser2net | ratio | ser2net, chardelay off | ratio |")
    print("|---|---|---|---|---|---|")
    for name, (a, b, c) in rows:
        print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} | {c:.1f} | {a / c:.2f} |")


if __name__ == "__main__":
    main()
