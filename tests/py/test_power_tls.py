"""The NUT driver's STARTTLS against NUT's real upsd (Debian's, built with NSS):
a CA and a server certificate (IP SAN 127.0.0.1) made with openssl, put into an NSS
database with certutil/pk12util for upsd's CERTPATH/CERTIDENT; lifelined verifies
the server against the CA file it is given, and fails with a reason otherwise."""
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from peers import Nut, wait_for
from test_power import configure, device_xml, notifications, state, subscribe

DB_PASSWORD = "nss-db-secret"
NICKNAME = "upsd server"


def run(*args, **kw):
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=30, **kw)
    assert out.returncode == 0, f"{args[0]} failed: {out.stdout}{out.stderr}"
    return out


def make_ca(d, cn):
    d.mkdir(parents=True, exist_ok=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    return d / "ca.pem"


def make_server(d, ca_dir):
    """A server certificate for 127.0.0.1 signed by the CA in ca_dir, with its key and
    the CA, in an NSS database (d/nssdb) under NICKNAME."""
    d.mkdir(parents=True, exist_ok=True)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                           "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(ca_dir / "ca.pem"),
        "-CAkey", str(ca_dir / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext"),
        "-out", str(d / "server.pem"))
    run("openssl", "pkcs12", "-export", "-in", str(d / "server.pem"), "-inkey", str(d / "server.key"),
        "-certfile", str(ca_dir / "ca.pem"), "-name", NICKNAME, "-passout", "pass:p12",
        "-out", str(d / "server.p12"))
    db = d / "nssdb"
    db.mkdir()
    pw = d / "dbpass"
    pw.write_text(DB_PASSWORD + "\n")
    run("certutil", "-N", "-d", f"sql:{db}", "-f", str(pw))
    run("pk12util", "-i", str(d / "server.p12"), "-d", f"sql:{db}", "-k", str(pw), "-W", "p12")
    run("certutil", "-A", "-d", f"sql:{db}", "-n", "test CA", "-t", "CT,,", "-a", "-i",
        str(ca_dir / "ca.pem"), "-f", str(pw))
    assert NICKNAME in run("certutil", "-L", "-d", f"sql:{db}").stdout
    return db


class TlsNut(Nut):
    """Nut's upsd with dummy-ups, and (given an NSS database) CERTPATH/CERTIDENT."""

    def __init__(self, tmp, certdb=None, **kw):
        super().__init__(tmp, **kw)
        self.certdb = certdb

    def start_upsd(self):
        conf = f"LISTEN 127.0.0.1 {self.port}\n"
        if self.certdb:
            conf += f'CERTPATH {self.certdb}\nCERTIDENT "{NICKNAME}" "{DB_PASSWORD}"\n'
        (self.dir / "etc" / "upsd.conf").write_text(conf)
        super().start_upsd()

    def log(self):
        return (self.dir / "upsd.log").read_text(errors="replace")


def starttls_reply(port):
    """upsd's answer to STARTTLS on a plain connection, and the socket (for the handshake)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"STARTTLS\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            break
        buf += chunk
    return buf.decode().strip(), s


def tls_device(nut, ca):
    return device_xml("ups", f"<nut><host>127.0.0.1</host><port>{nut.port}</port><ups>dummy</ups>"
                             f"<starttls>true</starttls><ca-certificate>{ca}</ca-certificate></nut>")


def refused(daemon):
    """The device's state once a poll has failed (it has a last-error)."""
    xml = state(daemon, "ups")
    return xml if "<last-error>" in xml else None


def last_error(xml):
    return re.search(r"<last-error>(.*?)</last-error>", xml, re.S).group(1)


def handshakes(nut):
    """How many TLS handshakes upsd completed (it logs each; upsc's count too)."""
    return nut.log().count("SSL handshake done successfully")


def test_starttls_with_the_right_ca_reaches_upsd(daemon, tmp_path):
    ca = make_ca(tmp_path / "ca", "lifeline test CA")
    db = make_server(tmp_path / "server", tmp_path / "ca")
    with TlsNut(tmp_path, certdb=db, step=30) as nut:
        # upsd's side works: Python's ssl does the same upgrade against the same CA.
        reply, s = starttls_reply(nut.port)
        assert reply == "OK STARTTLS", reply
        with ssl.create_default_context(cafile=str(ca)).wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.sendall(b"GET VAR dummy ups.status\n")
            assert t.recv(256).decode().startswith('VAR dummy ups.status "OL"')
        before = wait_for("upsd to log the handshake", lambda: handshakes(nut) or None, timeout=5)

        configure(daemon, tls_device(nut, ca))
        xml = wait_for("the device reached over TLS",
                       lambda: (x := state(daemon, "ups")) and "<reachable>true</reachable>" in x
                       and "<status>OL</status>" in x and x, timeout=15)
        assert "<last-error>" not in xml, xml
        assert re.search(r"<ups>.*<status>OL</status>.*</ups>", xml, re.S), xml
        # upsd saw lifelined's handshake complete: the polls really are over TLS.
        wait_for("upsd to log lifelined's handshake", lambda: handshakes(nut) > before, timeout=5)
        # And they go on over the one connection (no reconnect storm).
        time.sleep(2.5)
        assert "<reachable>true</reachable>" in state(daemon, "ups")
        assert handshakes(nut) == before + 1, nut.log()


def test_starttls_with_another_ca_is_refused_for_the_certificate(daemon, tmp_path):
    make_ca(tmp_path / "ca", "lifeline test CA")
    other = make_ca(tmp_path / "other-ca", "some other CA")
    db = make_server(tmp_path / "server", tmp_path / "ca")
    with TlsNut(tmp_path, certdb=db, step=30) as nut:
        before = handshakes(nut)
        configure(daemon, tls_device(nut, other))
        xml = wait_for("the poll to fail", lambda: refused(daemon), timeout=15)
        err = last_error(xml)
        assert "TLS handshake" in err and "invalid peer certificate" in err and "UnknownIssuer" in err, err
        assert "<status>" not in xml and "<reachable>true</reachable>" not in xml, xml
        # lifelined broke the handshake off: upsd never saw one complete.
        assert handshakes(nut) == before, nut.log()


def test_starttls_against_upsd_without_a_certificate_names_the_refusal(daemon, tmp_path):
    ca = make_ca(tmp_path / "ca", "lifeline test CA")
    with TlsNut(tmp_path, step=30) as nut:
        reply, s = starttls_reply(nut.port)
        s.close()
        assert reply == "ERR FEATURE-NOT-CONFIGURED", reply
        configure(daemon, tls_device(nut, ca))
        xml = wait_for("the poll to fail", lambda: refused(daemon), timeout=15)
        err = last_error(xml)
        assert "ERR FEATURE-NOT-CONFIGURED" in err and "not configured" in err, err
        # Not carried on in the clear after the refusal.
        assert "<status>" not in xml and "<reachable>true</reachable>" not in xml, xml


@pytest.mark.parametrize("case", ["other-ca", "no-certificate"])
def test_a_failed_starttls_makes_the_device_unreachable(daemon, tmp_path, case):
    make_ca(tmp_path / "ca", "lifeline test CA")
    other = make_ca(tmp_path / "other-ca", "some other CA")
    db = make_server(tmp_path / "server", tmp_path / "ca") if case == "other-ca" else None
    with TlsNut(tmp_path, certdb=db, step=30) as nut, daemon.connect() as watcher:
        subscribe(watcher)
        configure(daemon, tls_device(nut, other))
        xml = wait_for("the poll to fail", lambda: refused(daemon), timeout=15)
        got = notifications(watcher, ["power-device-unreachable"], timeout=3)
        assert "<reachable>false</reachable>" in state(daemon, "ups"), xml
        assert got and last_error(xml) in got[0], got
