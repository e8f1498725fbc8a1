"""Connection floods: idle connections that never log in are capped per face and
per source address, closed after the login grace time, and never keep an
operator out."""
import resource
import socket
import subprocess
import time

from ncclient.xml_ import to_ele

SYS_NS = "urn:lifeline:params:xml:ns:yang:lifeline-system"


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def idle_connections(port, n, source="127.0.0.2"):
    """n TCP connections from `source` that send nothing."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


def closed_by_peer(s):
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_a_thousand_idle_connections_per_face_keep_nobody_out(daemon):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    with daemon.connect() as m:
        m.edit_config(target="running", config=to_ele(
            f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            f'<management xmlns="{SYS_NS}"><login-grace-time>4</login-grace-time></management></config>'))
    before = rss_kib(daemon.proc.pid)
    flood = idle_connections(daemon.cli_port, 1000) + idle_connections(daemon.port, 1000)
    try:
        time.sleep(1)
        t0 = time.monotonic()
        rc, out = daemon.cli("show system hostname")
        took = time.monotonic() - t0
        assert rc == 0 and "lifeline" in out, out
        assert took < 2.0, f"the CLI took {took:.2f} s during the flood"
        with daemon.connect() as m:
            assert "<hostname>lifeline</hostname>" in m.get_config(source="running").data_xml
        grown = rss_kib(daemon.proc.pid) - before
        assert grown < 64 * 1024, f"RSS grew by {grown} KiB"
        # Past the grace time every flood connection has been closed.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            open_ = [s for s in flood if not closed_by_peer(s)]
            if not open_:
                break
            flood_left = len(open_)
            time.sleep(0.5)
        else:
            raise AssertionError(f"{flood_left} idle connections still open past the grace time")
    finally:
        for s in flood:
            s.close()
    # And a login still works afterwards.
    rc, out = daemon.cli("show system hostname")
    assert rc == 0 and "lifeline" in out, out
