#!/usr/bin/env python3
"""Console ports: lifelined against ser2net on the same machine in one run.

Each server gets its own socat pty pairs; the benchmark plays the router on the far
ends (raw termios). ser2net runs twice: as shipped, and with `chardelay: false`
(by default it waits a few character times for more device output before it
sends). lifelined keeps its transcript on (level output: every byte to disk), as
shipped.

Rows (medians; ratio is lifelined / ser2net):
  - memory per idle raw TCP session: VmRSS with 0 and with 100 attached sessions,
    measured first, on fresh processes; then a sanity check that every one of the
    100 sessions receives a whole burst of device output;
  - throughput device -> client, 8 MiB of bytes 0x20..0x7e, raw TCP and Telnet,
    every byte checked;
  - keystroke round trip client -> device -> echo -> client, 2,000 per run, raw TCP
    and Telnet, median and p99.

Exits non-zero only on errors (a server that fails, loses or alters data), never on
a ratio.

    cargo build --release
    LIFELINED=target/release/lifelined /opt/lifeline-venv/bin/python benches/console.py
"""
import os
import platform
import select
import shutil
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
PAYLOAD = bytes(0x20 + (i % 95) for i in range(95)) * (THROUGHPUT_BYTES // 95 + 1)
PAYLOAD = PAYLOAD[:THROUGHPUT_BYTES]
ROUND_TRIPS = 2000
SESSIONS = 100
THROUGHPUT_RUNS = 5
ROUND_TRIP_RUNS = 3
BURST = b"".join(b"<burst %03d>" % i for i in range(100))


class Pty:
    """A socat pty pair: the server opens `device`; the benchmark is the router on
    the far end."""

    def __init__(self, d, name):
        self.device = f"{d}/{name}A"
        far = f"{d}/{name}B"
        self.proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={self.device}",
                                      f"pty,raw,echo=0,link={far}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not (os.path.exists(far) and os.path.exists(self.device)):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("socat did not make its pty pair")
            time.sleep(0.02)
        self.fd = os.open(far, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def write_all(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def drain(self):
        """Drops whatever the server wrote to the device so far."""
        while select.select([self.fd], [], [], 0.05)[0]:
            if not os.read(self.fd, 65536):
                return

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


def drain_socket(sock, quiet=0.1):
    sock.settimeout(quiet)
    try:
        while sock.recv(65536):
            pass
    except socket.timeout:
        pass
    sock.settimeout(30)


def attach(pty, socks, timeout=20):
    """Waits until every session carries the device's output: writes numbered
    probes from the device until each session has seen one, then drops the rest."""
    pending = {s.fileno(): [s, b""] for s in socks}
    deadline = time.time() + timeout
    i = 0
    while pending:
        if time.time() > deadline:
            raise RuntimeError(f"{len(pending)} of {len(socks)} sessions never carried device output")
        probe = b"<probe %d>" % i
        i += 1
        pty.write_all(probe)
        until = time.time() + 0.5
        while pending and time.time() < until:
            ready, _, _ = select.select(list(pending), [], [], max(0.0, until - time.time()))
            for fd in ready:
                entry = pending[fd]
                chunk = entry[0].recv(65536)
                if not chunk:
                    raise RuntimeError("a session closed while attaching")
                entry[1] = (entry[1] + chunk)[-64:]
                if b"<probe " in entry[1] and entry[1].endswith(b">"):
                    del pending[fd]
    for s in socks:
        drain_socket(s)


class Server:
    def __init__(self, name, raw_pty, telnet_pty, raw_port, telnet_port, login):
        self.name, self.raw_pty, self.telnet_pty = name, raw_pty, telnet_pty
        self.raw_port, self.telnet_port, self.login = raw_port, telnet_port, login
        self.proc = None

    def pty(self, telnet):
        return self.telnet_pty if telnet else self.raw_pty

    def open(self, telnet):
        s = socket.create_connection(("127.0.0.1", self.telnet_port if telnet else self.raw_port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(30)
        if telnet and self.login:
            recv_until(s, b"login: ")
            s.sendall(b"admin\r\n")
            recv_until(s, b"Password: ")
            s.sendall(b"admin\r\n")
            recv_until(s, b"? for help]")
        return s

    def connect(self, telnet):
        s = self.open(telnet)
        attach(self.pty(telnet), [s])
        self.pty(telnet).drain()  # Telnet login and negotiation leftovers, if any
        return s

    def check(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")


def describe_difference(got, want):
    n = min(len(got), len(want))
    first = next((i for i in range(0, n, 4096) if got[i:i + 4096] != want[i:i + 4096]), None)
    if first is not None:
        first += next(j for j in range(4096) if got[first + j] != want[first + j])
    elif len(got) == len(want):
        return "identical"
    else:
        first = n
    notice = got.find(b"[lifeline:")
    return (f"received {len(got)} of {len(want)} bytes; first difference at byte {first}: "
            f"got {bytes(got[first:first + 80])!r}, expected {want[first:first + 40]!r}"
            + (f"; lifeline notice at {notice}: {bytes(got[notice:notice + 120])!r}" if notice >= 0 else ""))


def throughput(server, telnet):
    """MB/s from the first byte the device writes until the client holds all 8 MiB."""
    s = server.connect(telnet)
    pty = server.pty(telnet)
    got = bytearray()
    start = time.perf_counter()
    writer = threading.Thread(target=pty.write_all, args=(PAYLOAD,))
    writer.start()
    s.settimeout(10)
    try:
        while len(got) < len(PAYLOAD):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    elapsed = time.perf_counter() - start
    writer.join()
    s.close()
    if bytes(got[:len(PAYLOAD)]) != PAYLOAD:
        proto = "Telnet" if telnet else "raw TCP"
        raise DataError(f"{server.name}, {proto}, 8 MiB: {describe_difference(got, PAYLOAD)}")
    return len(PAYLOAD) / elapsed / 1e6


class DataError(RuntimeError):
    pass


def echo_device(pty, stop):
    """The router: echoes every byte the server writes to the device."""
    while not stop.is_set():
        if select.select([pty.fd], [], [], 0.05)[0]:
            b = os.read(pty.fd, 4096)
            if not b:
                return
            pty.write_all(b)


def round_trips(server, telnet):
    s = server.connect(telnet)
    pty = server.pty(telnet)
    stop = threading.Event()
    t = threading.Thread(target=echo_device, args=(pty, stop), daemon=True)
    t.start()
    times = []
    try:
        for _ in range(ROUND_TRIPS):
            start = time.perf_counter()
            s.sendall(b"a")
            got = b""
            while b"a" not in got:
                chunk = s.recv(64)
                if not chunk:
                    raise RuntimeError(f"{server.name} closed the session during round trips")
                got += chunk
            times.append((time.perf_counter() - start) * 1e6)
    finally:
        stop.set()
        t.join(5)
        s.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def memory(server):
    """KiB of VmRSS per idle attached raw TCP session; then every session must
    receive a whole burst of device output."""
    server.connect(False).close()  # warm-up: the first session's one-time set-up
    time.sleep(0.5)
    before = server.rss_kib()
    socks = [server.open(False) for _ in range(SESSIONS)]
    try:
        attach(server.raw_pty, socks)
        time.sleep(0.5)
        server.check()
        after = server.rss_kib()
        server.raw_pty.write_all(BURST)
        short = []
        for i, s in enumerate(socks):
            got = b""
            s.settimeout(10)
            try:
                while len(got) < len(BURST):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except socket.timeout:
                pass
            if got != BURST:
                short.append(f"session {i}: {describe_difference(got, BURST)}")
        if short:
            raise DataError(f"{server.name}: {len(short)} of {SESSIONS} sessions did not get the "
                            f"{len(BURST)}-byte burst whole; " + "; ".join(short[:3]))
    finally:
        for s in socks:
            s.close()
    return before, after, (after - before) / SESSIONS


def start_lifelined(d, pty):
    netconf, cli, raw, telnet = (free_port() for _ in range(4))
    cfg = factory_config(netconf, cli)
    if "</management>" not in cfg:
        raise RuntimeError("no <management> element in the factory configuration")
    cfg = cfg.replace(
        "</management>",
        "  <console-access><address>127.0.0.1</address></console-access>\n</management>", 1)
    cfg += f"""
<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports"><port>
  <name>port01</name><number>1</number><device>{pty.device}</device>
  <access><ssh><enabled>false</enabled></ssh><telnet><port>{telnet}</port></telnet>
    <raw-tcp><enabled>true</enabled><port>{raw}</port></raw-tcp><max-sessions>256</max-sessions></access>
  <logging><level>output</level></logging>
</port></ports>
"""
    (Path(d) / "factory.xml").write_text(cfg)
    srv = Server("lifelined", pty, pty, raw, telnet, login=True)
    srv.log = f"{d}/lifelined.log"
    srv.proc = subprocess.Popen([LIFELINED, "--state-dir", f"{d}/state", "--factory-config",
                                 f"{d}/factory.xml"], stdout=subprocess.DEVNULL,
                                stderr=open(srv.log, "w"), env={**os.environ, "RUST_LOG": "warn"})
    wait_port(raw, srv.proc)
    wait_port(telnet, srv.proc)
    return srv


def start_ser2net(d, pty_raw, pty_telnet, chardelay):
    """ser2net as shipped, or with its character delay off; max-connections lets
    one port take all the sessions (its default is 1)."""
    raw, telnet = free_port(), free_port()
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
    name = "ser2net" if chardelay else "ser2net, chardelay off"
    tag = "ser2net" if chardelay else "ser2net-nodelay"
    (Path(d) / f"{tag}.yaml").write_text(conf)
    srv = Server(name, pty_raw, pty_telnet, raw, telnet, login=False)
    srv.log = f"{d}/{tag}.log"
    srv.proc = subprocess.Popen(["ser2net", "-n", "-d", "-c", f"{d}/{tag}.yaml"],
                                stdout=subprocess.DEVNULL, stderr=open(srv.log, "w"))
    wait_port(raw, srv.proc)
    wait_port(telnet, srv.proc)
    return srv


def command_output(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10,
                              cwd=ROOT).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_info():
    binary = Path(LIFELINED)
    st = binary.stat()
    ser2net = command_output(["ser2net", "-v"]).splitlines()
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs (nproc {command_output(['nproc'])}), "
          f"{platform.platform()}, Python {platform.python_version()}")
    print(f"lifelined: {binary.resolve()} ({st.st_size} bytes, built "
          f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(st.st_mtime))}; "
          f"source tree {command_output(['git', 'describe', '--always', '--dirty'])})")
    print(f"reference: {ser2net[0] if ser2net else '?'}, YAML config, 9600n81 local on the pty")
    print("lifelined transcript: on, level output (every device byte written to disk)")
    sys.stdout.flush()


def main():
    if not os.access(LIFELINED, os.X_OK):
        sys.exit(f"no lifelined binary at {LIFELINED}: run cargo build --release or set LIFELINED")
    machine_info()
    d = tempfile.mkdtemp(prefix="ll-bench-console-")
    ptys, servers = [], []
    rows, mem = [], []
    try:
        for name in ("ll", "s2nraw", "s2ntel", "s2nraw2", "s2ntel2"):
            ptys.append(Pty(d, name))
        servers = [start_lifelined(d, ptys[0]), start_ser2net(d, ptys[1], ptys[2], True),
                   start_ser2net(d, ptys[3], ptys[4], False)]

        # Memory first, on fresh processes: later rows leave buffers in the heap.
        print(f"measuring memory with 0 and {SESSIONS} sessions ...", file=sys.stderr)
        mem = [memory(srv) for srv in servers]
        rows.append((f"memory per idle raw TCP session, {SESSIONS} sessions (KiB, lower is better)",
                     [m[2] for m in mem]))

        for telnet in (False, True):
            proto = "Telnet" if telnet else "raw TCP"
            print(f"measuring throughput, {proto} ...", file=sys.stderr)
            tp = [[] for _ in servers]
            for _ in range(THROUGHPUT_RUNS):  # interleaved, so drift hits all alike
                for i, srv in enumerate(servers):
                    tp[i].append(throughput(srv, telnet))
                    srv.check()
            rows.append((f"throughput device->client, {proto}, 8 MiB (MB/s, higher is better)",
                         [statistics.median(t) for t in tp]))
            print(f"measuring keystroke round trips, {proto} ...", file=sys.stderr)
            med, p99 = [[] for _ in servers], [[] for _ in servers]
            for _ in range(ROUND_TRIP_RUNS):
                for i, srv in enumerate(servers):
                    m, p = round_trips(srv, telnet)
                    med[i].append(m)
                    p99[i].append(p)
                    srv.check()
            rows.append((f"keystroke round trip, {proto}, median (us, lower is better)",
                         [statistics.median(m) for m in med]))
            rows.append((f"keystroke round trip, {proto}, p99 (us, lower is better)",
                         [statistics.median(p) for p in p99]))
        transcript = sum(f.stat().st_size for f in (Path(d) / "state" / "transcripts").glob("port01.log*"))
    finally:
        for srv in servers:
            if srv.proc.poll() is None:
                srv.proc.terminate()
            try:
                srv.proc.wait(10)
            except subprocess.TimeoutExpired:
                srv.proc.kill()
                srv.proc.wait()
        for p in ptys:
            p.close()
        if sys.exc_info()[0] is None:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print(f"logs and configurations kept in {d}", file=sys.stderr)

    print()
    print(f"medians: throughput over {THROUGHPUT_RUNS} runs; round trips: median of "
          f"{ROUND_TRIP_RUNS} runs' medians (p99s) of {ROUND_TRIPS} each; every byte checked")
    print("| row | lifelined | ser2net | ratio | ser2net, chardelay off | ratio |")
    print("|---|---|---|---|---|---|")
    for name, (a, b, c) in rows:
        r1 = f"{a / b:.2f}" if b else "-"
        r2 = f"{a / c:.2f}" if c else "-"
        print(f"| {name} | {a:.1f} | {b:.1f} | {r1} | {c:.1f} | {r2} |")
    print()
    for srv, (before, after, _) in zip(servers, mem):
        print(f"{srv.name}: VmRSS {before} KiB idle, {after} KiB with {SESSIONS} raw TCP sessions "
              f"on one port; each session received the {len(BURST)}-byte burst whole")
    print(f"lifelined transcript on disk after the run: {transcript / 1e6:.1f} MB (port01.log*, rotated)")
    print("ratio = lifelined / ser2net: below 1 is better for lifelined in the lower-is-better rows, "
          "above 1 in the higher-is-better rows")


if __name__ == "__main__":
    try:
        main()
    except DataError as e:
        sys.exit(f"data error: {e}")
