"""The HTTPS face's own machinery, seen from outside: the first-boot certificate
and its replacement through the model (OpenSSL makes the new one, Python's ssl
sees which is served), the web login's limits and its login-failure event, and
connections that never finish a request closed after the grace time."""
import json
import socket
import ssl
import subprocess
import time

import pytest
import requests

SYS = "urn:lifeline:params:xml:ns:yang:lifeline-system"


def served_cert(port):
    """The PEM certificate the server presents now."""
    return ssl.get_server_certificate(("127.0.0.1", port))


def pem_body(pem):
    return "".join(l for l in pem.strip().splitlines() if "-----" not in l)


def openssl_cert(tmp, name, key_type="ec"):
    key, cert = tmp / f"{name}.key", tmp / f"{name}.pem"
    args = ["openssl", "req", "-x509", "-nodes", "-days", "30", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"]
    if key_type == "ec":
        args[3:3] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    else:
        args[3:3] = ["-newkey", "rsa:2048"]
    subprocess.run(args, check=True, capture_output=True)
    return cert.read_text(), key.read_text()


def set_cert(m, cert, key):
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;")
    m.edit_config(target="running", config=(
        f'<config><management xmlns="{SYS}"><https><certificate>{esc(cert)}</certificate>'
        f'<private-key>{esc(key)}</private-key></https></management></config>'))


def test_first_boot_certificate_and_its_replacement(daemon, tmp_path):
    own = (daemon.state / "https-cert.pem").read_text()
    assert pem_body(served_cert(daemon.https_port)) == pem_body(own)
    # The first-boot certificate verifies as 127.0.0.1 and localhost.
    url = f"https://127.0.0.1:{daemon.https_port}/restconf"
    assert requests.get(url, auth=("admin", "admin"), verify=str(daemon.state / "https-cert.pem")).ok
    cert, key = openssl_cert(tmp_path, "site")
    with daemon.connect() as m:
        set_cert(m, cert, key)
        assert pem_body(served_cert(daemon.https_port)) == pem_body(cert)
        r = requests.get(url, auth=("admin", "admin"), verify=str(tmp_path / "site.pem"))
        assert r.status_code == 200
        # A key of another certificate is refused, with the path, and the
        # served certificate stays.
        _, other_key = openssl_cert(tmp_path, "other", key_type="rsa")
        from ncclient.operations.rpc import RPCError
        with pytest.raises(RPCError) as e:
            set_cert(m, cert, other_key)
        assert "does not belong" in e.value.message, e.value.message
        assert pem_body(served_cert(daemon.https_port)) == pem_body(cert)
        # The private key is NACM's default-deny-all: a read-only user sees
        # the certificate, not the key.
        from test_nacm import add_viewer
        add_viewer(m)
        mgmt = requests.get(f"{url}/data/lifeline-system:management/https", auth=("viewer", "viewer"),
                            verify=str(tmp_path / "site.pem")).json()
        text = json.dumps(mgmt)
        assert "BEGIN CERTIFICATE" in text and "private-key" not in text, text
        # Without them the first-boot certificate is back.
        m.edit_config(target="running", config=(
            f'<config xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><management xmlns="{SYS}"><https>'
            f'<certificate nc:operation="remove"/><private-key nc:operation="remove"/></https></management></config>'))
        assert pem_body(served_cert(daemon.https_port)) == pem_body(own)
    # Across a restart, the same first-boot certificate.
    daemon.restart()
    assert pem_body(served_cert(daemon.https_port)) == pem_body(own)


def test_web_logins_are_bounded_and_failures_reported(daemon):
    base = f"https://127.0.0.1:{daemon.https_port}"
    verify = str(daemon.state / "https-cert.pem")
    with daemon.connect() as m:
        m.edit_config(target="running", config=(
            f'<config><management xmlns="{SYS}"><https><max-sessions>2</max-sessions></https></management></config>'))
        m.create_subscription()
        r = requests.post(f"{base}/login", json={"username": "admin", "password": "nope"}, verify=verify)
        assert r.status_code == 401
        seen = ""
        deadline = time.time() + 10
        while "login-failure" not in seen and time.time() < deadline:
            n = m.take_notification(timeout=2)
            seen += n.notification_xml if n else ""
        assert "login-failure" in seen and "<service>https</service>" in seen, seen
    tokens = []
    for _ in range(3):
        r = requests.post(f"{base}/login", json={"username": "admin", "password": "admin"}, verify=verify)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["user"] == "admin" and body["csrf"] and body["token"]
        cookie = r.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        tokens.append(body["token"])
        time.sleep(0.05)
    # Two at most: the first (idle longest) was ended by the third.
    auth = lambda t: {"Authorization": f"Bearer {t}"}
    assert requests.get(f"{base}/restconf", headers=auth(tokens[0]), verify=verify).status_code == 401
    assert requests.get(f"{base}/restconf", headers=auth(tokens[2]), verify=verify).status_code == 200
    # A cookie without its CSRF token reads but does not change anything.
    # (verify per request: requests lets the environment override a
    # session's own setting)
    s = requests.Session()
    body = s.post(f"{base}/login", json={"username": "admin", "password": "admin"}, verify=verify).json()
    assert s.get(f"{base}/api/session", verify=verify).json()["user"] == "admin"
    url = f"{base}/restconf/data/ietf-system:system/hostname"
    hdr = {"Content-Type": "application/yang-data+json"}
    r = s.put(url, data=json.dumps({"ietf-system:hostname": "csrf"}), headers=hdr, verify=verify)
    assert r.status_code == 403, r.text
    r = s.put(url, data=json.dumps({"ietf-system:hostname": "web"}),
              headers=dict(hdr, **{"X-CSRF-Token": body["csrf"]}), verify=verify)
    assert r.status_code == 204, r.text
    assert s.post(f"{base}/logout", headers={"X-CSRF-Token": body["csrf"]}, verify=verify).status_code == 204
    assert s.get(f"{base}/api/session", verify=verify).status_code == 401


def test_connections_that_never_log_in_are_closed(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=(
            f'<config><management xmlns="{SYS}"><login-grace-time>2</login-grace-time></management></config>'))
    ctx = ssl.create_default_context(cafile=str(daemon.state / "https-cert.pem"))

    def until_closed(first):
        """Connects, sends `first`, and answers what came back and when."""
        tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", daemon.https_port)),
                              server_hostname="127.0.0.1")
        if first:
            tls.sendall(first)
        t0 = time.time()
        tls.settimeout(15)
        try:
            got = tls.recv(4096)
        except (ConnectionError, ssl.SSLError):
            got = b""
        tls.close()
        return got, time.time() - t0

    # Half the headers: closed (hyper may first answer 408) at the grace time.
    got, waited = until_closed(b"GET /restconf HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert b"200 OK" not in got and waited < 12, (got, waited)
    # A client that never sends a request is closed at the grace time.
    got, waited = until_closed(b"")
    assert got == b"" and waited < 5, (got, waited)
    # Meanwhile, and after, requests are served.
    assert requests.get(f"https://127.0.0.1:{daemon.https_port}/restconf", auth=("admin", "admin"),
                        verify=str(daemon.state / "https-cert.pem")).ok
