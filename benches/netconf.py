#!/usr/bin/env python3
"""NETCONF benchmark: lifelined against yuma123's netconfd, on this machine, in one
run, over a bare SSH channel with raw NETCONF framing (not ncclient, which adds
about 100 ms to every RPC).

Rows: session set-up (SSH connect, auth, subsystem, hellos); get-config of a small
configuration; get-config with 1,000 list entries (ietf-system users); edit-config
of 1,000 entries to the candidate plus commit. Prints a markdown table of medians and the ratio
lifelined / netconfd (below 1.0: lifelined is faster).

    LIFELINED=target/release/lifelined python3 benches/netconf.py [--quick]
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paramiko

ROOT = Path(__file__).resolve().parents[1]
LIFELINED = os.environ.get("LIFELINED", str(ROOT / "target" / "release" / "lifelined"))
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
QUICK = "--quick" in sys.argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


class Session:
    """A bare NETCONF session: paramiko channel, chunked framing after the hellos."""

    def __init__(self, port, user, key):
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect("127.0.0.1", port=port, username=user, pkey=key,
                            allow_agent=False, look_for_keys=False)
        self.chan = self.client.get_transport().open_session()
        self.chan.invoke_subsystem("netconf")
        buf = b""
        while b"]]>]]>" not in buf:
            data = self.chan.recv(65536)
            if not data:
                raise RuntimeError("no hello")
            buf += data
        self.chunked = b"base:1.1" in buf
        hello = (f'<hello xmlns="{NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability>'
                 f'<capability>urn:ietf:params:netconf:base:1.1</capability></capabilities></hello>]]>]]>')
        self.chan.sendall(hello.encode())
        self.mid = 0

    def rpc(self, body):
        self.mid += 1
        msg = f'<rpc message-id="{self.mid}" xmlns="{NC}">{body}</rpc>'.encode()
        if self.chunked:
            self.chan.sendall(b"\n#%d\n" % len(msg) + msg + b"\n##\n")
            end = b"\n##\n"
        else:
            self.chan.sendall(msg + b"]]>]]>")
            end = b"]]>]]>"
        parts = []
        tail = b""
        while True:
            data = self.chan.recv(1 << 20)
            if not data:
                raise RuntimeError("connection closed")
            parts.append(data)
            tail = (tail + data)[-16:]
            if tail.endswith(end):
                break
        reply = b"".join(parts)
        if b"<rpc-error>" in reply:
            raise RuntimeError(reply[:2000].decode(errors="replace"))
        return reply

    def close(self):
        try:
            self.rpc("<close-session/>")
        except Exception:
            pass
        self.client.close()


def users_config(n, op=None):
    """n ietf-system users (a list both servers load: yuma123 fails edits of
    lifeline-ports with "invalid internal value")."""
    attr = f' nc:operation="{op}"' if op else ""
    entries = "".join(
        f"<user{attr}><name>user{i:04d}</name><password>$0$secret-{i}</password></user>" for i in range(1, n + 1))
    return (f'<config><system xmlns="{SYS}" xmlns:nc="{NC}"><authentication>{entries}'
            f'</authentication></system></config>')


REMOVE_USERS = users_config(1000, "remove")


def measure(fn, n, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(name, port, user, key):
    print(f"measuring {name} ...", file=sys.stderr)
    rows = {}
    rows["session set-up"] = measure(lambda: Session(port, user, key).close(), 5 if QUICK else 20)
    s = Session(port, user, key)
    get = "<get-config><source><running/></source></get-config>"
    s.rpc(f"<edit-config><target><candidate/></target>{REMOVE_USERS}</edit-config>")
    s.rpc("<commit/>")
    rows["get-config, small config"] = measure(lambda: s.rpc(get), 50 if QUICK else 300)
    s.rpc(f"<edit-config><target><candidate/></target>{users_config(1000)}</edit-config>")
    s.rpc("<commit/>")
    rows["get-config, 1,000 list entries"] = measure(lambda: s.rpc(get), 10 if QUICK else 50)
    big = users_config(1000)

    def edit_commit():
        s.rpc(f"<edit-config><target><candidate/></target>{big}</edit-config>")
        s.rpc("<commit/>")

    times = []
    for i in range(3 if QUICK else 10):
        s.rpc(f"<edit-config><target><candidate/></target>{REMOVE_USERS}</edit-config>")
        s.rpc("<commit/>")
        t = time.perf_counter()
        edit_commit()
        times.append(time.perf_counter() - t)
    rows["edit-config + commit, 1,000 entries"] = statistics.median(times[1:])
    s.close()
    return rows


def start_netconfd(tmp, key_pub):
    sock = tmp / "ncxserver.sock"
    port = free_port()
    ncd = subprocess.Popen(
        ["/usr/sbin/netconfd", f"--module={ROOT}/yang/ietf/ietf-system@2014-08-06.yang",
         f"--modpath={ROOT}/yang:{ROOT}/yang/ietf:{ROOT}/yang/iana:/usr/share/yuma/modules",
         "--no-startup", "--superuser=root", "--access-control=off", f"--ncxserver-sockname={sock}",
         "--log-level=error", "--target=candidate", f"--port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    deadline = time.time() + 30
    while not sock.exists():
        if time.time() > deadline or ncd.poll() is not None:
            raise RuntimeError("netconfd did not start")
        time.sleep(0.05)
    hostkey = tmp / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True)
    auth = tmp / "authorized_keys"
    auth.write_text(key_pub)
    os.chmod(auth, 0o600)
    conf = tmp / "sshd_config"
    conf.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {hostkey}
PidFile {tmp}/sshd.pid
AuthorizedKeysFile {auth}
PermitRootLogin yes
PasswordAuthentication no
StrictModes no
UsePAM no
Subsystem netconf /usr/sbin/netconf-subsystem --ncxserver-sockname={port}@{sock}
""")
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return [sshd, ncd], port


def start_lifelined(tmp, key_pub, extra=""):
    """lifelined on free loopback ports with the client's key for admin; `extra`
    is more configuration for its factory default."""
    port = free_port()
    alg, data = key_pub.split()[:2]
    factory = (ROOT / "yang" / "factory-config.xml").read_text()
    factory = factory.replace("<name>admin</name>\n      <password>",
                              f"<name>admin</name>\n      <authorized-key><name>bench</name><algorithm>{alg}</algorithm>"
                              f"<key-data>{data}</key-data></authorized-key>\n      <password>", 1)
    factory = factory.replace("<address>::</address>\n      <port>830</port>",
                              f"<address>127.0.0.1</address>\n      <port>{port}</port>", 1)
    factory = factory.replace("<address>::</address>\n      <port>22</port>",
                              f"<address>127.0.0.1</address>\n      <port>{free_port()}</port>", 1)
    factory = factory.replace("<address>::</address>\n      <port>443</port>",
                              f"<address>127.0.0.1</address>\n      <port>{free_port()}</port>", 1)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "factory.xml").write_text(factory + extra)
    proc = subprocess.Popen([LIFELINED, "--state-dir", str(tmp / "state"), "--factory-config", str(tmp / "factory.xml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    wait_port(port)
    return [proc], port


def main():
    tmp = Path(tempfile.mkdtemp(prefix="lifeline-bench-"))
    procs = []
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "client")], check=True)
        key = paramiko.Ed25519Key.from_private_key_file(str(tmp / "client"))
        key_pub = (tmp / "client.pub").read_text()
        (tmp / "ncd").mkdir()
        (tmp / "ll").mkdir()
        p, ncd_port = start_netconfd(tmp / "ncd", key_pub)
        procs += p
        p, ll_port = start_lifelined(tmp / "ll", key_pub)
        procs += p
        ncd = bench("netconfd", ncd_port, "root", key)
        ll = bench("lifelined", ll_port, "admin", key)
        print("| operation | lifelined | netconfd | ratio |")
        print("|---|---|---|---|")
        for row in ncd:
            print(f"| {row} | {ll[row] * 1000:.2f} ms | {ncd[row] * 1000:.2f} ms | {ll[row] / ncd[row]:.2f} |")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
