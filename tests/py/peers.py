"""Real power peers on loopback, in temp dirs, on free ports: Powerman's powermand with
its vpcd simulator, NUT's upsd with dummy-ups and powerman-pdu drivers, snmpsim with
an APC rPDU data set, and net-snmp's snmpd as an SNMPv3 PDU. Each is a context
manager that stops and cleans up after itself."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

VENV = os.environ.get("LIFELINE_VENV", "/opt/lifeline-venv")
APC_COMMAND = "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4"
APC_NAME = "1.3.6.1.4.1.318.1.1.12.3.3.1.1.2"


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, cond, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc, sig=signal.SIGTERM):
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Peer:
    """A peer process started by `start()` and stopped by `stop()`; usable in `with`."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


class SnmpAgent(Peer):
    """An SNMP agent peer that `get`s through net-snmp's snmpget with `auth` arguments."""
    auth = []

    def get(self, oid):
        out = subprocess.run(["snmpget", *self.auth, "-On", "-Oqv", "-t", "1", "-r", "0",
                              f"127.0.0.1:{self.port}", oid], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


class Powerman(Peer):
    """powermand with vpcd: 16 plugs t0..t15, all off at start."""

    def __init__(self, tmp):
        self.dir = Path(tmp) / "powerman"
        self.port = free_port()
        self.proc = None

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "powerman.conf"
        conf.write_text(f'include "/etc/powerman/vpc.dev"\nlisten "127.0.0.1:{self.port}"\n'
                        'device "test0" "vpc" "/usr/sbin/vpcd |&"\nnode "t[0-15]" "test0" "[0-15]"\n')
        self.proc = subprocess.Popen(["powermand", "-c", str(conf), "-f"], cwd=self.dir,
                                     stdout=open(self.dir / "powermand.log", "ab"), stderr=subprocess.STDOUT)
        wait_for("powermand", lambda: self.query() is not None)
        return self

    def pm(self, *args):
        return subprocess.run(["pm", "-h", f"127.0.0.1:{self.port}", *args],
                              capture_output=True, text=True, timeout=15)

    def query(self):
        """{node: 'on'|'off'} as pm -q reports it (expanded)."""
        out = self.pm("-q", "-x")
        if out.returncode != 0:
            return None
        # With -x: one "node: state" line a node.
        return dict(tuple(x.strip() for x in line.split(":", 1)) for line in out.stdout.splitlines()
                    if ":" in line)

    def kill(self):
        stop(self.proc, signal.SIGKILL)

    def stop(self):
        stop(self.proc)



STEADY_UPS = """device.mfr: Dummy
device.model: SteadyUPS
device.type: ups
battery.charge: 77
battery.runtime: 2400
ups.load: 12
input.voltage: 231.0
output.voltage: 229.0
ups.status: OL
"""

UPS_SEQ = """device.mfr: Dummy
device.model: SimUPS
device.type: ups
battery.charge: 100
battery.runtime: 1800
ups.load: 30
input.voltage: 230.0
output.voltage: 230.0
ups.status: OL
TIMER {t}
ups.status: OB
battery.charge: 60
input.voltage: 0.0
TIMER {t}
ups.status: OB LB
battery.charge: 10
TIMER {t}
ups.status: OL
battery.charge: 100
input.voltage: 230.0
TIMER {t}
"""


class Nut(Peer):
    """A private upsd with dummy-ups (`dummy`, a .seq OL -> OB -> OB LB -> OL) and,
    given a Powerman, NUT's powerman-pdu driver in front of it (`pdu`); with
    `steady`, a second dummy-ups always on line at 77% (`steady`). Users:
    admin/secret (instcmds ALL) and viewer/viewer (no instant commands)."""

    def __init__(self, tmp, powerman=None, step=3, steady=False):
        self.dir = Path(tmp) / "nut"
        self.port = free_port()
        self.powerman = powerman
        self.step = step
        self.steady = steady
        self.procs = {}

    def env(self):
        d = self.dir
        return dict(os.environ, NUT_CONFPATH=str(d / "etc"), NUT_STATEPATH=str(d / "state"),
                    NUT_PIDPATH=str(d / "run"), NUT_ALTPIDPATH=str(d / "run"))

    def start(self):
        for sub in ("etc", "state", "run"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        etc = self.dir / "etc"
        (etc / "dummy.seq").write_text(UPS_SEQ.format(t=self.step))
        ups = f'[dummy]\n\tdriver = dummy-ups\n\tport = {etc / "dummy.seq"}\n\tdesc = "test UPS"\n'
        if self.powerman:
            ups += f'[pdu]\n\tdriver = powerman-pdu\n\tport = 127.0.0.1:{self.powerman.port}\n\tdesc = "test PDU"\n'
        if self.steady:
            (etc / "steady.dev").write_text(STEADY_UPS)
            ups += f'[steady]\n\tdriver = dummy-ups\n\tport = {etc / "steady.dev"}\n\tdesc = "steady UPS"\n'
        (etc / "ups.conf").write_text(ups)
        (etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.port}\n")
        users = etc / "upsd.users"
        users.write_text("[admin]\n\tpassword = secret\n\tactions = SET\n\tinstcmds = ALL\n"
                         "[viewer]\n\tpassword = viewer\n")
        users.chmod(0o600)
        self.driver("dummy", "/lib/nut/dummy-ups")
        if self.steady:
            self.driver("steady", "/lib/nut/dummy-ups")
        if self.powerman:
            self.driver("pdu", "/lib/nut/powerman-pdu")
        wait_for("the NUT drivers", lambda: all((self.dir / "state" / f"{d}-{n}").exists()
                                                for n, d in self.drivers()))
        self.start_upsd()
        return self

    def drivers(self):
        out = [("dummy", "dummy-ups")]
        if self.steady:
            out.append(("steady", "dummy-ups"))
        if self.powerman:
            out.append(("pdu", "powerman-pdu"))
        return out

    def driver(self, name, binary):
        self.procs[name] = subprocess.Popen([binary, "-a", name, "-u", "root", "-F"], env=self.env(),
                                            cwd=self.dir, stdout=open(self.dir / f"{name}.log", "ab"),
                                            stderr=subprocess.STDOUT)

    def start_upsd(self):
        self.procs["upsd"] = subprocess.Popen(["/lib/nut/upsd", "-u", "root", "-F"], env=self.env(), cwd=self.dir,
                                              stdout=open(self.dir / "upsd.log", "ab"), stderr=subprocess.STDOUT)
        wait_for("upsd", lambda: self.upsc("dummy", "ups.status") not in (None, "", "WAIT"))

    def upsc(self, ups, var):
        out = subprocess.run(["upsc", f"{ups}@127.0.0.1:{self.port}", var], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None

    def kill_upsd(self):
        stop(self.procs.pop("upsd"), signal.SIGKILL)

    def stop(self):
        for p in self.procs.values():
            stop(p)



def apc_records(outlets=8, writable=True):
    recs = {
        "1.3.6.1.2.1.1.1.0": "4|APC Web/SNMP Management Card (MN:AP7920B)",
        "1.3.6.1.2.1.1.5.0": "4|rpdu-sim",
    }
    for n in range(1, outlets + 1):
        recs[f"{APC_NAME}.{n}"] = f"4|Outlet {n}"
        recs[f"{APC_COMMAND}.{n}"] = "2:writecache|value=1" if writable else "2|1"
    key = lambda o: tuple(int(x) for x in o.split("."))  # noqa: E731
    return "".join(f"{o}|{recs[o]}\n" for o in sorted(recs, key=key))


class Snmpsim(SnmpAgent):
    """snmpsim answering an APC rPDU of `outlets` outlets on v2c (community private)."""
    auth = ["-v2c", "-c", "private"]

    def __init__(self, tmp, outlets=8):
        self.dir = Path(tmp) / "snmpsim"
        self.port = free_port(socket.SOCK_DGRAM)
        self.outlets = outlets
        self.proc = None

    def start(self):
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.dir / "cache").mkdir(exist_ok=True)
        (data / "private.snmprec").write_text(apc_records(self.outlets))
        self.proc = subprocess.Popen(
            [f"{VENV}/bin/snmpsim-command-responder", f"--data-dir={data}", f"--cache-dir={self.dir / 'cache'}",
             f"--agent-udpv4-endpoint=127.0.0.1:{self.port}", f"--logging-method=file:{self.dir / 'log'}"],
            env=dict(os.environ, SNMPSIM_ALLOW_ROOT="true"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("snmpsim", lambda: self.get(f"{APC_COMMAND}.1") is not None, timeout=30)
        return self


    def stop(self):
        stop(self.proc)



class Snmpd(SnmpAgent):
    """net-snmp's snmpd as an SNMPv3 PDU: a user with authPriv (SHA, AES) and a
    writable outlet column (`override -rw`)."""
    auth = ["-v3", "-l", "authPriv", "-u", "pdu", "-a", "SHA", "-A", "pduauthpass", "-x", "AES", "-X", "pduprivpass"]

    def __init__(self, tmp, outlets=4):
        self.dir = Path(tmp) / "snmpd"
        self.port = free_port(socket.SOCK_DGRAM)
        self.outlets = outlets
        self.proc = None

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        overrides = "".join(f"override -rw .{APC_COMMAND}.{n} integer 1\n"
                            f"override .{APC_NAME}.{n} octet_str \"Outlet {n}\"\n"
                            for n in range(1, self.outlets + 1))
        (self.dir / "snmpd.conf").write_text(
            f"agentAddress udp:127.0.0.1:{self.port}\n"
            "createUser pdu SHA pduauthpass AES pduprivpass\n"
            "rwuser pdu priv\n"
            f"[snmp] persistentDir {self.dir}\n" + overrides)
        self.proc = subprocess.Popen(["snmpd", "-f", "-C", "-c", str(self.dir / "snmpd.conf"), "-I", "-smux",
                                      "-Lf", str(self.dir / "snmpd.log"), "-p", str(self.dir / "snmpd.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("snmpd", lambda: self.get(f"{APC_COMMAND}.1") is not None)
        return self


    def stop(self):
        stop(self.proc)

