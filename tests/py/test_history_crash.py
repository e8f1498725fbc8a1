"""The commit history survives kill -9 at any moment: after every restart the newest
history entry is the running configuration, and no commit number is used twice."""
import random
import re
import threading
import time

from ncclient.xml_ import to_ele

SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
HIST = '<commit-history xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"/>'


def hostname_of(text):
    m = re.search(r"<hostname>([^<]*)</hostname>", text)
    return m and m.group(1)


def committer(daemon, stop, counter):
    try:
        with daemon.connect() as m:
            while not stop.is_set():
                counter[0] += 1
                name = f"h{counter[0]}"
                m.edit_config(target="running", config=to_ele(
                    f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                    f'<system xmlns="{SYS}"><hostname>{name}</hostname></system></config>'))
    except Exception:
        pass  # the daemon was killed under us


def test_kill_minus_nine_never_loses_or_reuses_a_commit(daemon):
    rng = random.Random(7)
    seen = {}  # commit id -> the hostname its record holds
    counter = [0]
    for _ in range(8):
        stop = threading.Event()
        t = threading.Thread(target=committer, args=(daemon, stop, counter))
        t.start()
        time.sleep(rng.uniform(0.1, 0.5))
        daemon.kill9()
        stop.set()
        t.join(10)
        daemon.start()
        with daemon.connect() as m:
            running = hostname_of(m.get_config(source="running").data_xml)
            hist = m.get(filter=("subtree", HIST)).data_xml
        ids = [int(i) for i in re.findall(r"<id>(\d+)</id>", hist)]
        assert ids == sorted(ids) and ids, hist
        newest = ids[-1]
        record = (daemon.state / "history" / f"{newest:08}.xml").read_text()
        assert hostname_of(record) == running, f"newest commit {newest} is not what runs"
        for i in ids:
            text = (daemon.state / "history" / f"{i:08}.xml").read_text()
            name = hostname_of(text)
            assert seen.setdefault(i, name) == name, f"commit number {i} was used twice"
    assert counter[0] > 8, "the loop made too few commits to prove anything"
