"""Crash safety and hostile input: kill -9 during commits, corrupt startup files,
malformed and oversize messages, abrupt disconnects."""
import os
import random
import socket
import subprocess
import threading
import time

import paramiko
import pytest

from conftest import Daemon

SYS = "urn:ietf:params:xml:ns:yang:ietf-system"


def set_hostname(m, name):
    m.edit_config(target="candidate",
                  config=f'<config><system xmlns="{SYS}"><hostname>{name}</hostname></system></config>')
    m.commit()


def get_hostname(m):
    reply = m.get_config(source="running", filter=("subtree", f'<system xmlns="{SYS}"><hostname/></system>'))
    return reply.data_ele.find(f".//{{{SYS}}}hostname").text


def test_kill9_during_commits_never_breaks_the_config(tmp_path):
    d = Daemon(tmp_path).start()
    committed = {"lifeline"}
    rng = random.Random(7)
    for round_ in range(8):
        stop = threading.Event()
        attempted = set()

        def writer():
            try:
                with d.connect() as m:
                    i = 0
                    while not stop.is_set():
                        name = f"r{round_}-{i}"
                        attempted.add(name)
                        set_hostname(m, name)
                        committed.add(name)
                        i += 1
            except Exception:
                pass  # the daemon died under us: expected

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.2 + rng.random() * 0.5)
        d.kill9()
        stop.set()
        t.join(10)
        d.start()
        with d.connect() as m:
            now = get_hostname(m)
        # The old or the new configuration: a name that was committed or in flight.
        assert now in committed | attempted, now
        committed = {now}
    d.stop()


def test_corrupt_startup_boots_factory_and_keeps_the_file(tmp_path):
    d = Daemon(tmp_path).start()
    with d.connect() as m:
        set_hostname(m, "custom")
    d.stop()
    (d.state / "startup.xml").write_text("<system xmlns='urn:ietf:params:xml:ns:yang:ietf-system'><hostname>")
    d.start()
    with d.connect() as m:
        assert get_hostname(m) == "lifeline"
    kept = [p.name for p in d.state.iterdir() if p.name.startswith("startup.xml.invalid")]
    assert kept, os.listdir(d.state)
    d.stop()


def raw_channel(d):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=d.port, username="admin", password="admin",
                   allow_agent=False, look_for_keys=False)
    chan = client.get_transport().open_session()
    chan.invoke_subsystem("netconf")
    return client, chan


def read_until(chan, marker, timeout=10):
    chan.settimeout(timeout)
    buf = b""
    while marker not in buf:
        data = chan.recv(65536)
        if not data:
            break
        buf += data
    return buf


HELLO10 = (b'<?xml version="1.0"?><hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
           b'<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>')


def test_malformed_xml_gets_rpc_error_and_others_keep_working(daemon):
    client, chan = raw_channel(daemon)
    read_until(chan, b"]]>]]>")
    chan.sendall(HELLO10)
    chan.sendall(b"<rpc message-id='1' xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get-config><source>"
                 b"<running/></source></get-config>]]>]]>")
    reply = read_until(chan, b"]]>]]>")
    # malformed-message is base:1.1's, never sent to a base:1.0 session (RFC 6241 A).
    assert b"malformed-message" not in reply and b"<error-tag>operation-failed</error-tag>" in reply
    chan.sendall(b"<rpc xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get/></rpc>]]>]]>")
    assert b"missing-attribute" in read_until(chan, b"]]>]]>")
    # the same session still answers
    chan.sendall(b"<rpc message-id='2' xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get-config><source>"
                 b"<running/></source></get-config></rpc>]]>]]>")
    assert b"<hostname>lifeline</hostname>" in read_until(chan, b"]]>]]>")
    client.close()
    with daemon.connect() as m:
        assert get_hostname(m) == "lifeline"


def test_malformed_xml_on_a_base11_session_is_malformed_message(daemon):
    client, chan = raw_channel(daemon)
    read_until(chan, b"]]>]]>")
    chan.sendall(HELLO10.replace(b"base:1.0</capability>", b"base:1.1</capability>"))
    body = b"<rpc message-id='1' xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><get-config>"
    chan.sendall(b"\n#%d\n%s\n##\n" % (len(body), body))
    reply = read_until(chan, b"\n##\n")
    assert b"malformed-message" in reply
    client.close()


def test_bad_chunk_framing_and_abrupt_disconnects(daemon):
    for _ in range(5):
        client, chan = raw_channel(daemon)
        read_until(chan, b"]]>]]>")
        chan.sendall(HELLO10.replace(b"base:1.0</capability>", b"base:1.1</capability>"))
        chan.sendall(b"\n#abc\n<rpc/>\n##\n")
        reply = read_until(chan, b"\n##\n")
        assert b"malformed-message" in reply
        client.close()
    for _ in range(5):
        client, chan = raw_channel(daemon)
        chan.sendall(b"<hello")  # and vanish mid-hello
        client.close()
    with daemon.connect() as m:
        assert get_hostname(m) == "lifeline"


def test_openssh_netconf_subsystem(daemon, tmp_path):
    """OpenSSH's client with the netconf subsystem, base:1.0 framing."""
    rpc = (HELLO10 + b"<rpc message-id='7' xmlns='urn:ietf:params:xml:ns:netconf:base:1.0'><close-session/></rpc>]]>]]>")
    out = subprocess.run(
        ["sshpass", "-p", "admin", "ssh", "-p", str(daemon.port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no", "-s", "admin@127.0.0.1", "netconf"],
        input=rpc, capture_output=True, timeout=30)
    assert b"<ok/>" in out.stdout, out.stderr


def test_netconf_console2(daemon):
    venv = os.environ.get("LIFELINE_VENV", "/opt/lifeline-venv")
    exe = os.path.join(venv, "bin", "netconf-console2")
    if not os.path.exists(exe):
        pytest.skip("netconf-console2 not installed")
    out = subprocess.run([exe, "--host", "127.0.0.1", "--port", str(daemon.port), "-u", "admin", "-p", "admin",
                          "--get-config", "-x", "/system/hostname"], capture_output=True, text=True, timeout=60)
    assert "lifeline" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([exe, "--host", "127.0.0.1", "--port", str(daemon.port), "-u", "admin", "-p", "admin",
                          "--db", "candidate", "--edit-config", "-", "--commit"],
                         input=f'<system xmlns="{SYS}"><hostname>from-nc2</hostname></system>',
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    with daemon.connect() as m:
        assert get_hostname(m) == "from-nc2"


def test_public_key_login(daemon, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    pub = (tmp_path / "k.pub").read_text().split()[1]
    with daemon.connect() as m:
        m.edit_config(target="running", config=(
            f'<config><system xmlns="{SYS}"><authentication><user><name>admin</name><authorized-key>'
            f'<name>test</name><algorithm>ssh-ed25519</algorithm><key-data>{pub}</key-data>'
            f'</authorized-key></user></authentication></system></config>'))
    from ncclient import manager
    with manager.connect(host="127.0.0.1", port=daemon.port, username="admin", key_filename=str(tmp_path / "k"),
                         hostkey_verify=False, allow_agent=False, look_for_keys=False) as m:
        assert get_hostname(m) == "lifeline"


def test_oversize_message_is_refused_and_others_keep_working(daemon):
    client, chan = raw_channel(daemon)
    read_until(chan, b"]]>]]>")
    chan.sendall(HELLO10)
    with daemon.connect() as other:
        block = b"<x>" + b"a" * (1 << 20) + b"</x>"
        sent = 0
        try:
            while sent < (65 << 20):
                chan.sendall(block)
                sent += len(block)
        except OSError:
            pass  # the server closed the session
        reply = read_until(chan, b"]]>]]>", timeout=30)
        assert b"too-big" in reply, reply[:500]
        assert get_hostname(other) == "lifeline"
    client.close()


def test_unknown_namespace_in_config(daemon):
    from ncclient.operations.rpc import RPCError
    with daemon.connect() as m:
        with pytest.raises(RPCError) as e:
            m.edit_config(target="running", config='<config><thing xmlns="urn:example:unknown">1</thing></config>')
        assert e.value.tag == "unknown-namespace", e.value.tag
        assert get_hostname(m) == "lifeline"
