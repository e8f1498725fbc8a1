"""Network namespaces for uplink tests: the appliance's namespace with two veth
uplinks to two ISP namespaces, both routing to a NOC namespace. Nothing touches
the host's own interfaces or routes; everything is deleted on close.

    app  up1 10.1.0.2/24 -- isp1 10.1.0.1 | 10.11.0.1 -- noc 10.11.0.2
         up2 10.2.0.2/24 -- isp2 10.2.0.1 | 10.12.0.1 -- noc 10.12.0.2
    noc  10.9.0.1/32 (the NOC server), routes back through both ISPs
"""
import ctypes
import os
import secrets
import socket
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


def in_netns(ns, fn):
    """Runs `fn` in a thread that has joined namespace `ns`; sockets it makes
    stay in that namespace."""
    out = {}

    def run():
        fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            out["v"] = fn()
        except BaseException as e:  # noqa: BLE001 - passed to the caller
            out["e"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


class Topology:
    def __init__(self):
        tag = secrets.token_hex(3)
        self.app, self.isp1, self.isp2, self.noc = (f"ll{n}-{tag}" for n in ("app", "isp1", "isp2", "noc"))
        self.all = [self.app, self.isp1, self.isp2, self.noc]
        self.procs = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def ip(self, ns, *args, check=True):
        return sh("ip", "-n", ns, *args, check=check)

    def run(self, ns, *args, check=True, **kw):
        return sh("ip", "netns", "exec", ns, *args, check=check, **kw)

    def _build(self):
        for ns in self.all:
            sh("ip", "netns", "add", ns)
            self.ip(ns, "link", "set", "lo", "up")
        for i, isp in ((1, self.isp1), (2, self.isp2)):
            sh("ip", "link", "add", f"up{i}", "netns", self.app, "type", "veth", "peer", "name", "cust", "netns", isp)
            sh("ip", "link", "add", "core", "netns", isp, "type", "veth", "peer", "name", f"isp{i}", "netns", self.noc)
            self.ip(self.app, "addr", "add", f"10.{i}.0.2/24", "dev", f"up{i}")
            self.ip(self.app, "addr", "add", f"fd00:{i}::2/64", "dev", f"up{i}", "nodad")
            self.ip(isp, "addr", "add", f"10.{i}.0.1/24", "dev", "cust")
            self.ip(isp, "addr", "add", f"fd00:{i}::1/64", "dev", "cust", "nodad")
            self.ip(isp, "addr", "add", f"10.1{i}.0.1/24", "dev", "core")
            self.ip(self.noc, "addr", "add", f"10.1{i}.0.2/24", "dev", f"isp{i}")
            for ns, dev in ((self.app, f"up{i}"), (isp, "cust"), (isp, "core"), (self.noc, f"isp{i}")):
                self.ip(ns, "link", "set", dev, "up")
            self.run(isp, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            self.ip(isp, "route", "add", "10.9.0.1/32", "via", f"10.1{i}.0.2")
            self.ip(self.noc, "route", "add", f"10.{i}.0.0/24", "via", f"10.1{i}.0.1")
        self.ip(self.noc, "addr", "add", "10.9.0.1/32", "dev", "lo")

    def spawn(self, ns, *args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns, *args], **kw)
        self.procs.append(p)
        return p

    def nft(self, ns, rules):
        return self.run(ns, "nft", "-f", "-", input=rules)

    def drop_all(self, isp):
        """The ISP's link to the appliance drops everything, both ways."""
        self.nft(isp, """table inet lldrop {
  chain input { type filter hook input priority 0; policy accept; iifname "cust" counter drop; }
  chain forward { type filter hook forward priority 0; policy accept; iifname "cust" counter drop; oifname "cust" counter drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "cust" counter drop; }
}""")

    def lossy(self, isp, percent=30):
        """About `percent`% of what arrives from the appliance is dropped."""
        n = percent // 10
        self.nft(isp, f"""table inet lldrop {{
  chain input {{ type filter hook input priority 0; policy accept; iifname "cust" numgen random mod 10 < {n} counter drop; }}
  chain forward {{ type filter hook forward priority 0; policy accept; iifname "cust" numgen random mod 10 < {n} counter drop; }}
}}""")

    def heal(self, isp):
        self.run(isp, "nft", "delete", "table", "inet", "lldrop", check=False)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in self.all:
            sh("ip", "netns", "del", ns, check=False)


ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7))
while True:
    d, a = s.recvfrom(64)
    s.sendto(d, a)
"""

# Sends a numbered datagram every 10 ms to the appliance and prints, for each
# echo, the monotonic send time (CLOCK_MONOTONIC is one clock for every
# namespace).
PINGER = r"""
import socket, sys, time, select
dst = (sys.argv[1], 7)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 0))
sent = {}
n = 0
nxt = time.monotonic()
while True:
    now = time.monotonic()
    if now >= nxt:
        n += 1
        sent[n] = now
        s.sendto(str(n).encode(), dst)
        nxt += 0.01
    r, _, _ = select.select([s], [], [], max(0, nxt - time.monotonic()))
    if r:
        d, _ = s.recvfrom(64)
        k = int(d)
        if k in sent:
            print(f"{sent.pop(k):.4f}", flush=True)
"""
