"""Fixtures that start lifelined on free loopback ports in temp dirs and reach it
with real NETCONF clients (ncclient, netconf-console2, OpenSSH)."""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIFELINED = os.environ.get("LIFELINED", str(ROOT / "target" / "debug" / "lifelined"))
FACTORY = (ROOT / "yang" / "factory-config.xml").read_text()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def factory_config(netconf_port, cli_port, https_port=None):
    """The factory default with the NETCONF endpoint moved to loopback:port."""
    xml = FACTORY
    xml = re.sub(r"(<netconf>.*?<endpoint>.*?<address>)[^<]*(</address>)",
                 r"\g<1>127.0.0.1\g<2>", xml, count=1, flags=re.S)
    xml = re.sub(r"(<netconf>.*?<endpoint>.*?)(<port>[^<]*</port>)",
                 rf"\g<1><port>{netconf_port}</port>", xml, count=1, flags=re.S)
    if f"<port>{netconf_port}</port>" not in xml:
        xml = re.sub(r"(<netconf>.*?<endpoint>.*?</address>)",
                     rf"\g<1><port>{netconf_port}</port>", xml, count=1, flags=re.S)
    # The CLI endpoint would need port 22: move it out of the way too.
    xml = re.sub(r"(<cli>.*?<endpoint>.*?<address>)[^<]*(</address>)",
                 r"\g<1>127.0.0.1\g<2>", xml, count=1, flags=re.S)
    xml = re.sub(r"(<cli>.*?<endpoint>.*?)<port>[^<]*</port>",
                 rf"\g<1><port>{cli_port}</port>", xml, count=1, flags=re.S)
    # HTTPS (443) too, on loopback.
    xml = re.sub(r"(<https>.*?<endpoint>.*?<address>)[^<]*(</address>)",
                 r"\g<1>127.0.0.1\g<2>", xml, count=1, flags=re.S)
    xml = re.sub(r"(<https>.*?<endpoint>.*?)<port>[^<]*</port>",
                 rf"\g<1><port>{https_port or free_port()}</port>", xml, count=1, flags=re.S)
    return xml


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lifelined exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"lifelined did not listen on {port}")


class Daemon:
    def __init__(self, tmp_path, extra_yang=None):
        self.dir = tmp_path
        self.state = tmp_path / "state"
        self.port = free_port()
        self.cli_port = free_port()
        self.factory = tmp_path / "factory.xml"
        self.https_port = free_port()
        self.factory.write_text(factory_config(self.port, self.cli_port, self.https_port))
        self.log = tmp_path / "lifelined.log"
        self.extra_yang = extra_yang
        self.proc = None

    def start(self):
        cmd = [LIFELINED, "--state-dir", str(self.state), "--factory-config", str(self.factory)]
        if self.extra_yang:
            cmd += ["--extra-yang", str(self.extra_yang)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_port(self.port, self.proc)
        return self

    def ssh_args(self, user="admin"):
        """OpenSSH to the CLI, password auth through sshpass."""
        return ["ssh", "-p", str(self.cli_port), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
                "-o", "LogLevel=ERROR", f"{user}@127.0.0.1"]

    def cli(self, command=None, stdin=None, user="admin", password="admin"):
        """Runs the CLI non-interactively; returns (exit status, output)."""
        args = ["sshpass", "-p", password] + self.ssh_args(user)
        if command is not None:
            args.append(command)
        out = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def connect(self, user="admin", password="admin", **kw):
        from ncclient import manager
        return manager.connect(host="127.0.0.1", port=self.port, username=user, password=password,
                               hostkey_verify=False, allow_agent=False, look_for_keys=False,
                               timeout=30, **kw)


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    d.stop()
