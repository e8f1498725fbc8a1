#!/usr/bin/env python3
"""Service-platform benchmark: what a read or a load elsewhere costs the datastore,
over a bare SSH channel with raw NETCONF framing (benches/netconf.py's Session).

Rows (ratios, so shared-machine noise cancels):
- commit latency (edit-config of one leaf + commit) while net-snmp's snmpbulkwalk
  walks the whole MIB in a loop, against idle; goal under 1.5;
- a NETCONF <get> of one console port's state with 240 ports configured, against
  4 ports; goal within 20% (1.2).

    LIFELINED=target/release/lifelined python3 benches/platform.py [--quick]
"""
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netconf import QUICK, Session, free_port, measure, start_lifelined  # noqa: E402

SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
P = "urn:lifeline:params:xml:ns:yang:lifeline-ports"

SNMP = """<snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp">
  <engine><enabled>true</enabled>
    <listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{port}</port></udp></listen>
    <version><v2c/></version></engine>
  <community><index>public</index><text-name>public</text-name><security-name>public</security-name></community>
  <vacm><group><name>g</name><member><security-name>public</security-name><security-model>v2c</security-model></member>
    <access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level>
      <read-view>all</read-view></access></group>
    <view><name>all</name><include>1</include></view></vacm>
</snmp>"""


def ports_xml(n):
    """n console ports (disabled: no device is opened, the state is there)."""
    entries = "".join(
        f"<port><name>port{i:03d}</name><number>{i}</number><enabled>false</enabled>"
        f"<device>/dev/ttyBENCH{i}</device></port>" for i in range(1, n + 1))
    return f'<ports xmlns="{P}">{entries}</ports>'


def start(tmp, key_pub, ports, snmp_port=None):
    procs, port = start_lifelined(tmp, key_pub, ports_xml(ports) + (SNMP.format(port=snmp_port) if snmp_port else ""))
    return procs[0], port


def commit_latency(s, n):
    i = [0]

    def once():
        i[0] += 1
        s.rpc(f'<edit-config><target><candidate/></target><config><system xmlns="{SYS}">'
              f'<location>rack {i[0]}</location></system></config></edit-config>')
        s.rpc("<commit/>")
    return measure(once, n)


def walk_loop(snmp_port, stop, walks):
    while not stop.is_set():
        subprocess.run(["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-Cr50", "-t", "5",
                        f"127.0.0.1:{snmp_port}", ".1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walks[0] += 1


def main():
    tmp = Path(tempfile.mkdtemp(prefix="lifeline-bench-platform-"))
    procs = []
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "client")], check=True)
        key = paramiko.Ed25519Key.from_private_key_file(str(tmp / "client"))
        key_pub = (tmp / "client.pub").read_text()
        n = 30 if QUICK else 150
        rows = []

        # Commit latency while the SNMP agent is walked, against idle.
        snmp_port = free_port()
        proc, port = start(tmp / "walked", key_pub, 240, snmp_port)
        procs.append(proc)
        s = Session(port, "admin", key)
        idle = commit_latency(s, n)
        stop, walks = threading.Event(), [0]
        walkers = [threading.Thread(target=walk_loop, args=(snmp_port, stop, walks))]
        for w in walkers:
            w.start()
        time.sleep(1)
        busy = commit_latency(s, n)
        stop.set()
        for w in walkers:
            w.join()
        s.close()
        rows.append((f"commit latency, bulkwalk loop ({walks[0]} walks) / idle", busy, idle))

        # A get of one port's state: 240 ports against 4.
        one = (f'<get><filter type="subtree"><ports xmlns="{P}"><port><name>port001</name>'
               f'<state/></port></ports></filter></get>')
        lat = {}
        for count in (4, 240):
            proc, port = start(tmp / f"ports{count}", key_pub, count)
            procs.append(proc)
            s = Session(port, "admin", key)
            reply = s.rpc(one)
            assert b"<device-present>" in reply and b"port002" not in reply, reply[:500]
            lat[count] = measure(lambda: s.rpc(one), n * 2)
            s.close()
        rows.append(("get of one port's state, 240 ports / 4 ports", lat[240], lat[4]))

        print("| row | measured | reference | ratio |")
        print("|---|---|---|---|")
        for name, a, b in rows:
            print(f"| {name} | {a * 1000:.2f} ms | {b * 1000:.2f} ms | {a / b:.2f} |")
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
