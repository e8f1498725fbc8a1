"""The SNMP agent driven by net-snmp's tools (snmpget, snmpgetnext, snmpwalk,
snmpbulkwalk, snmpset, snmptable) and snmptrapd, configured over NETCONF through
ietf-snmp with ncclient."""
import hashlib
import os
import random
import re
import socket
import subprocess
import time

import pytest

from conftest import Daemon

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIBPATH = f"{ROOT}/mibs:{ROOT}/mibs/ietf:/usr/share/snmp/mibs"
SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
SNMP_NS = "urn:ietf:params:xml:ns:yang:ietf-snmp"
LLS = "urn:lifeline:params:xml:ns:yang:lifeline-snmp"
ENGINE = "80:00:1f:88:04:74:65:73:74:31"
ENV = dict(os.environ, MIBS="")

SYS_DESCR, SYS_CONTACT, SYS_NAME, SYS_LOCATION = (f".1.3.6.1.2.1.1.{n}.0" for n in (1, 4, 5, 6))
WRONG_DIGESTS = ".1.3.6.1.6.3.15.1.1.5.0"
BAD_COMMUNITY = ".1.3.6.1.2.1.11.4.0"
ASN_ERRORS = ".1.3.6.1.2.1.11.6.0"
ENGINE_BOOTS = ".1.3.6.1.6.3.10.2.1.2.0"

HASH = {"md5": "md5", "sha": "sha1", "sha-224": "sha224", "sha-256": "sha256",
        "sha-384": "sha384", "sha-512": "sha512"}
NET_SNMP_AUTH = {"md5": "MD5", "sha": "SHA", "sha-224": "SHA-224", "sha-256": "SHA-256",
                 "sha-384": "SHA-384", "sha-512": "SHA-512"}
# (user, auth, priv); every passphrase is the user name twice.
USERS = [("plain", None, None), ("md5u", "md5", None), ("shau", "sha", None),
         ("sha256u", "sha-256", None), ("sha512u", "sha-512", None),
         ("desu", "sha", "des"), ("aesu", "sha", "aes"), ("admin", "sha", "aes")]


def localized(algo, passphrase, engine_hex):
    h = HASH[algo]
    pw = passphrase.encode()
    ku = hashlib.new(h, (pw * (1048576 // len(pw) + 1))[:1048576]).digest()
    eid = bytes.fromhex(engine_hex.replace(":", ""))
    return ":".join(f"{b:02x}" for b in hashlib.new(h, ku + eid + ku).digest())


def user_xml(name, auth, priv, engine=ENGINE):
    xml = f"<user><name>{name}</name>"
    if auth:
        key = localized(auth, name * 2, engine)
        ns = f' xmlns="{LLS}"' if auth.startswith("sha-") else ""
        xml += f"<auth><{auth}{ns}><key>{key}</key></{auth}></auth>"
        if priv:
            xml += f"<priv><{priv}><key>{key}</key></{priv}></priv>"
    return xml + "</user>"


def free_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snmp_config(port, community="public", extra=""):
    users = "".join(user_xml(*u) for u in USERS)
    members = "".join(f"<member><security-name>{u}</security-name><security-model>usm</security-model></member>"
                      for u, _, _ in USERS if u != "admin")
    return f"""<snmp xmlns="{SNMP_NS}">
  <engine><enabled>true</enabled>
    <listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{port}</port></udp></listen>
    <version><v1/><v2c/><v3/></version><engine-id>{ENGINE}</engine-id>
    <enable-authen-traps>true</enable-authen-traps></engine>
  <community><index>ro</index><text-name>{community}</text-name><security-name>reader</security-name></community>
  <community><index>sys</index><text-name>sysonly</text-name><security-name>sysreader</security-name></community>
  <usm><local>{users}</local></usm>
  <vacm>
    <group><name>readers</name>
      <member><security-name>reader</security-name><security-model>v1</security-model><security-model>v2c</security-model></member>
      {members}
      <access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level>
        <read-view>all</read-view><notify-view>all</notify-view></access></group>
    <group><name>sys</name>
      <member><security-name>sysreader</security-name><security-model>v2c</security-model></member>
      <access><context></context><security-model>v2c</security-model><security-level>no-auth-no-priv</security-level>
        <read-view>sys</read-view></access></group>
    <group><name>admins</name>
      <member><security-name>admin</security-name><security-model>usm</security-model></member>
      <access><context></context><security-model>usm</security-model><security-level>auth-priv</security-level>
        <read-view>all</read-view><write-view>all</write-view><notify-view>all</notify-view></access></group>
    <view><name>all</name><include>1</include></view>
    <view><name>sys</name><include>1.3.6.1.2.1.1</include><exclude>1.3.6.1.2.1.1.4</exclude></view>
  </vacm>
  {extra}
</snmp>"""


def edit(d, xml, target="running"):
    with d.connect() as m:
        m.edit_config(target="candidate", config=f"<config>{xml}</config>")
        m.commit()


@pytest.fixture
def agent(tmp_path):
    d = Daemon(tmp_path).start()
    d.snmp = free_udp()
    edit(d, snmp_config(d.snmp))
    d.addr = f"127.0.0.1:{d.snmp}"
    wait_answer(d.addr)
    yield d
    d.stop()


def run(*args, check=True):
    out = subprocess.run(["timeout", "60", *args], capture_output=True, text=True, env=ENV)
    if check:
        assert out.returncode == 0, f"{args}: {out.stdout}{out.stderr}"
    return out


def v2c(d, tool, *args, community="public", check=True):
    return run(tool, "-v2c", "-c", community, "-On", "-t", "2", "-r", "1", d.addr, *args, check=check)


def v3(d, tool, user, *args, passphrase=None, check=True):
    auth, priv = next((a, p) for u, a, p in USERS if u == user)
    pw = passphrase or user * 2
    sec = ["-l", "noAuthNoPriv"]
    if auth:
        sec = ["-l", "authNoPriv", "-a", NET_SNMP_AUTH[auth], "-A", pw]
        if priv:
            sec = ["-l", "authPriv", "-a", NET_SNMP_AUTH[auth], "-A", pw, "-x", priv.upper(), "-X", pw]
    return run(tool, "-v3", "-u", user, *sec, "-On", "-t", "2", "-r", "1", d.addr, *args, check=check)


def value(out):
    return out.stdout.split(" = ", 1)[1].strip()


def wait_answer(addr):
    deadline = time.time() + 10
    while time.time() < deadline:
        out = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0", addr, SYS_DESCR],
                             capture_output=True, text=True, env=ENV)
        if out.returncode == 0:
            return
    pytest.fail(f"{addr} never answered")


def tlv(tag, body):
    n = len(body)
    head = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def ber_int(v):
    return tlv(2, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def ber_oid(text):
    arcs = [int(a) for a in text.strip(".").split(".")]
    out = bytes([arcs[0] * 40 + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7f]
        a >>= 7
        while a:
            chunk.insert(0, 0x80 | (a & 0x7f))
            a >>= 7
        out += bytes(chunk)
    return tlv(6, out)


def v3_get(engine_hex, user, oids_, max_size):
    """A noAuthNoPriv v3 GetRequest, encoded by hand (net-snmp's tools cannot set msgMaxSize)."""
    engine = bytes.fromhex(engine_hex.replace(":", ""))
    vbs = tlv(0x30, b"".join(tlv(0x30, ber_oid(o) + b"\x05\x00") for o in oids_))
    pdu = tlv(0xa0, ber_int(77) + ber_int(0) + ber_int(0) + vbs)
    scoped = tlv(0x30, tlv(4, engine) + tlv(4, b"") + pdu)
    usm = tlv(0x30, tlv(4, engine) + ber_int(0) + ber_int(0) + tlv(4, user.encode()) + tlv(4, b"") + tlv(4, b""))
    header = tlv(0x30, ber_int(99) + ber_int(max_size) + tlv(4, b"\x04") + ber_int(3))
    return tlv(0x30, ber_int(3) + header + tlv(4, usm) + scoped)


def tlv_error_status(reply):
    """The error-status of the Response PDU in a plaintext v3 reply."""
    i = reply.index(b"\xa2")
    body = reply[i + 2:] if reply[i + 1] < 128 else reply[i + 2 + (reply[i + 1] & 0x7f):]
    # request-id, then error-status
    rid_len = body[1]
    return body[2 + rid_len + 2]


def oids(text):
    return [line.split(" = ")[0] for line in text.splitlines() if " = " in line]


def counter(d, oid):
    return int(value(v2c(d, "snmpget", oid)).split()[-1])


def test_walks_agree_and_stay_in_order(agent):
    walk = v2c(agent, "snmpwalk", ".1")
    bulk = v2c(agent, "snmpbulkwalk", "-Cr25", ".1")
    walk1 = run("snmpwalk", "-v1", "-c", "public", "-On", agent.addr, ".1")
    for out in (walk, bulk, walk1):
        assert "not increasing" not in out.stderr
    # Counters and uptimes move between walks; the set of objects does not.
    assert oids(walk.stdout) == oids(bulk.stdout)
    assert len(oids(walk.stdout)) > 100
    assert "Counter64" not in walk1.stdout and "Counter64" in walk.stdout
    assert set(oids(walk1.stdout)) < set(oids(walk.stdout))
    for needed in (SYS_DESCR, SYS_NAME, ".1.3.6.1.2.1.2.2.1.1.", ".1.3.6.1.2.1.31.1.1.1.1.",
                   ".1.3.6.1.2.1.25.2.3.1.5.", ".1.3.6.1.6.3.10.2.1.1.0", WRONG_DIGESTS):
        assert needed in walk.stdout
    descr = value(v2c(agent, "snmpget", SYS_DESCR))
    assert "lifeline" in descr
    assert value(v2c(agent, "snmpget", ".1.3.6.1.2.1.1.2.0")) == "OID: .1.3.6.1.4.1.8072.9999.9999.5433.3.1"


@pytest.mark.parametrize("user", [u for u, _, _ in USERS if u != "admin"])
def test_v3_every_security_level_and_protocol(agent, user):
    assert value(v3(agent, "snmpget", user, SYS_NAME)) == 'STRING: "lifeline"'
    if user == "plain":
        return
    before = counter(agent, WRONG_DIGESTS)
    bad = v3(agent, "snmpget", user, SYS_NAME, passphrase="not-the-passphrase", check=False)
    assert bad.returncode != 0 and "Authentication failure" in bad.stderr
    assert counter(agent, WRONG_DIGESTS) > before


def netconf_system(d):
    with d.connect() as m:
        reply = m.get_config(source="running", filter=("subtree", f'<system xmlns="{SYS}"/>'))
        return {e.tag.split("}")[1]: e.text for e in reply.data_ele.find(f"{{{SYS}}}system")
                if e.text and e.text.strip()}


def test_set_commits_to_the_datastore_all_or_nothing(agent):
    v3(agent, "snmpset", "admin", SYS_NAME, "s", "core-oob", SYS_CONTACT, "s", "noc@example.net",
       SYS_LOCATION, "s", "rack 7")
    sysconf = netconf_system(agent)
    assert (sysconf["hostname"], sysconf["contact"], sysconf["location"]) == \
        ("core-oob", "noc@example.net", "rack 7")
    assert value(v2c(agent, "snmpget", SYS_NAME)) == 'STRING: "core-oob"'
    # The second varbind has the wrong type: nothing is written.
    bad = v3(agent, "snmpset", "admin", SYS_NAME, "s", "other", SYS_LOCATION, "i", "5", check=False)
    assert bad.returncode != 0 and "wrongType" in bad.stderr + bad.stdout
    assert re.search(r"Failed object: \.1\.3\.6\.1\.2\.1\.1\.6\.0", bad.stderr + bad.stdout)
    # A value the model refuses (hostname pattern): nothing is written either.
    bad = v3(agent, "snmpset", "admin", SYS_LOCATION, "s", "moved", SYS_NAME, "s", "bad name!", check=False)
    # The model's pattern refuses it at the varbind that carries it.
    assert "wrongValue" in bad.stderr and "Failed object: .1.3.6.1.2.1.1.5.0" in bad.stderr
    assert netconf_system(agent)["hostname"] == "core-oob"
    assert netconf_system(agent)["location"] == "rack 7"
    # No write view for the community; sysDescr is not writable.
    ro = v2c(agent, "snmpset", SYS_NAME, "s", "x", check=False)
    assert "noAccess" in ro.stderr + ro.stdout
    nw = v3(agent, "snmpset", "admin", SYS_DESCR, "s", "x", check=False)
    assert "notWritable" in nw.stderr + nw.stdout
    # The SET is in the rollback history like any commit.
    with agent.connect() as m:
        hist = m.get(filter=("subtree", '<commit-history xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"/>'))
        assert "snmp" in hist.data_xml


def test_vacm_views(agent):
    walk = v2c(agent, "snmpwalk", ".1", community="sysonly")
    got = oids(walk.stdout)
    assert got and all(o.startswith(".1.3.6.1.2.1.1.") for o in got)
    assert SYS_CONTACT not in got and SYS_NAME in got
    out = v2c(agent, "snmpget", SYS_CONTACT, ".1.3.6.1.2.1.2.1.0", community="sysonly")
    assert out.stdout.count("No Such Object") == 2


def test_exceptions_and_bad_input(agent):
    out = v2c(agent, "snmpget", ".1.3.6.1.2.1.1.5.1", ".1.3.6.1.2.1.1.99.0", ".1.3.6.1.99")
    lines = out.stdout.splitlines()
    assert "No Such Instance" in lines[0] and "No Such Object" in lines[1] and "No Such Object" in lines[2]
    out = v2c(agent, "snmpgetnext", ".1.3.6.1.7")
    assert "No more variables left in this MIB View" in out.stdout
    v1 = run("snmpget", "-v1", "-c", "public", "-On", agent.addr, SYS_NAME, ".1.3.6.1.2.1.1.99.0", check=False)
    assert "noSuchName" in v1.stderr + v1.stdout
    before = counter(agent, BAD_COMMUNITY)
    wrong = v2c(agent, "snmpget", SYS_NAME, community="nope", check=False)
    assert wrong.returncode != 0 and "Timeout" in wrong.stderr
    assert counter(agent, BAD_COMMUNITY) == before + 2  # the request and its retry
    # Garbage and truncated messages get no answer and change nothing.
    asn = counter(agent, ASN_ERRORS)
    good = bytes.fromhex("302602010104067075626c6963a019020101020100020100300e300c06082b060102010105000500")
    rnd = random.Random(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        for i in range(200):
            junk = good[:rnd.randrange(len(good))] if i % 2 else bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
            s.sendto(junk, ("127.0.0.1", agent.snmp))
        with pytest.raises(socket.timeout):
            data = s.recv(65536)
            pytest.fail(f"the agent answered garbage: {data!r}")
        s.sendto(good, ("127.0.0.1", agent.snmp))
        assert b"public" in s.recv(65536)
    assert counter(agent, ASN_ERRORS) > asn
    # tooBig: a v3 request (user plain, noAuthNoPriv) whose msgMaxSize of 484
    # octets cannot hold ten copies of sysDescr.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(v3_get(ENGINE, "plain", [SYS_DESCR] * 10, max_size=484), ("127.0.0.1", agent.snmp))
        reply = s.recv(65536)
    assert len(reply) <= 484
    assert b"\xa2" in reply and tlv_error_status(reply) == 1  # tooBig
    # A GETBULK asking for more than fits is cut short, without an error.
    out = v2c(agent, "snmpbulkget", "-Cr2000", ".1")
    assert 100 < len(oids(out.stdout)) < 2000


def test_configuration_applies_at_once(agent):
    edit(agent, f'<snmp xmlns="{SNMP_NS}"><community><index>ro</index><text-name>fresh</text-name></community></snmp>')
    time.sleep(0.2)
    assert v2c(agent, "snmpget", SYS_NAME, community="public", check=False).returncode != 0
    assert value(v2c(agent, "snmpget", SYS_NAME, community="fresh")) == 'STRING: "lifeline"'
    port = free_udp()
    edit(agent, f'<snmp xmlns="{SNMP_NS}"><engine><listen><name>lo</name><udp><port>{port}</port></udp></listen></engine></snmp>')
    agent.addr = f"127.0.0.1:{port}"
    assert value(v2c(agent, "snmpget", SYS_NAME, community="fresh")) == 'STRING: "lifeline"'
    # IPv6 beside IPv4.
    port6 = free_udp()
    edit(agent, f'<snmp xmlns="{SNMP_NS}"><engine><listen><name>lo6</name><udp><ip>::1</ip>'
                f'<port>{port6}</port></udp></listen></engine></snmp>')
    agent.addr = f"udp6:[::1]:{port6}"
    assert value(v2c(agent, "snmpget", SYS_NAME, community="fresh")) == 'STRING: "lifeline"'


def test_engine_boots_persist_and_v3_works_after_restart(agent):
    boots = int(value(v2c(agent, "snmpget", ENGINE_BOOTS)).split()[-1])
    agent.restart()
    wait_answer(agent.addr)
    assert int(value(v2c(agent, "snmpget", ENGINE_BOOTS)).split()[-1]) == boots + 1
    assert value(v3(agent, "snmpget", "admin", SYS_NAME)) == 'STRING: "lifeline"'


def test_snmptable_with_our_mib(agent, tmp_path):
    ttyA = tmp_path / "ttyA"
    socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={ttyA}", f"pty,raw,echo=0,link={tmp_path / 'ttyB'}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if ttyA.exists():
                break
            time.sleep(0.1)
        edit(agent, f"""<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports"><port><name>port07</name>
            <number>7</number><label>core switch</label><device>{ttyA}</device>
            <serial><baud>115200</baud></serial></port></ports>""")
        time.sleep(1.2)
        out = run("snmptable", "-M", MIBPATH, "-m", "LIFELINE-MIB", "-v2c", "-c", "public", "-Cf", "|",
                  agent.addr, "LIFELINE-MIB::llPortTable")
        rows = [line.split("|") for line in out.stdout.splitlines() if line.startswith("port07|")]
        assert rows, out.stdout
        row = rows[0]
        assert row[1] == "core switch" and row[2] == "true" and row[4] == "115200"
        out = run("snmptable", "-M", MIBPATH, "-m", "IF-MIB", "-v2c", "-c", "public", "-Cf", "|",
                  agent.addr, "IF-MIB::ifTable")
        assert "|lo|softwareLoopback|" in out.stdout, out.stdout
        out = v2c(agent, "snmpget", ".1.3.6.1.2.1.10.33.2.1.5.7")
        assert value(out) == "INTEGER: 115200"
        # Every table of LIFELINE-MIB loads and reads cleanly, empty or not.
        for table in ("llPortTable", "llSessionTable", "llPowerDeviceTable", "llOutletTable",
                      "llUpsTable", "llUplinkTable", "llRuleTable"):
            out = run("snmptable", "-M", MIBPATH, "-m", "LIFELINE-MIB", "-v2c", "-c", "public",
                      agent.addr, f"LIFELINE-MIB::{table}", check=False)
            assert out.returncode == 0 and out.stderr == "", (table, out.stderr)
    finally:
        socat.terminate()


def trapd(tmp_path, conf_extra=""):
    port = free_udp()
    conf, log = tmp_path / "snmptrapd.conf", tmp_path / "traps.log"
    conf.write_text("authCommunity log public\n" + conf_extra)
    p = subprocess.Popen(["snmptrapd", "-f", "-C", "-c", str(conf), "-Lf", str(log), "-On", "-n",
                          f"udp:127.0.0.1:{port}"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p, port, log


def wait_log(log, pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log.read_text() if log.exists() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.2)
    pytest.fail(f"{pattern!r} not in the trap log:\n{log.read_text() if log.exists() else ''}")


def target(name, port, params, kind="trap"):
    return (f"<target><name>{name}</name><udp><ip>127.0.0.1</ip><port>{port}</port></udp><tag>{name}</tag>"
            f"<target-params>{params}</target-params><timeout>100</timeout><retries>2</retries></target>"
            f"<notify><name>{name}</name><tag>{name}</tag><type>{kind}</type></notify>")


def test_traps_and_informs_reach_snmptrapd(agent, tmp_path):
    trap_engine = "80:00:1f:88:04:74:72:61:70:64"  # snmptrapd's "engineID trapd"
    key = localized("sha", "trapdtrapd", trap_engine)
    p, port, log = trapd(tmp_path, f"engineID trapd\ncreateUser -e {ENGINE.replace(':', '')} admin SHA adminadmin AES adminadmin\n"
                         "createUser admin SHA trapdtrapd AES trapdtrapd\nauthUser log admin\n")
    try:
        params = (f'<target-params><name>v2</name><v2c><security-name>reader</security-name></v2c></target-params>'
                  f'<target-params><name>v1</name><v1><security-name>reader</security-name></v1></target-params>'
                  f'<target-params><name>v3</name><usm><user-name>admin</user-name><security-level>auth-priv</security-level></usm></target-params>'
                  f'<usm><remote><engine-id>{trap_engine}</engine-id><user><name>admin</name>'
                  f'<auth><sha><key>{key}</key></sha></auth><priv><aes><key>{key}</key></aes></priv></user></remote></usm>')
        extra = (params + target("t2", port, "v2") + target("t1", port, "v1") + target("i2", port, "v2", "inform")
                 + target("t3", port, "v3") + target("i3", port, "v3", "inform"))
        edit(agent, f'<snmp xmlns="{SNMP_NS}">{extra}</snmp>')
        # The commit itself: warmStart, and LIFELINE-MIB's config-changed with its objects.
        wait_log(log, r"\.1\.3\.6\.1\.6\.3\.1\.1\.4\.1\.0 = OID: \.1\.3\.6\.1\.6\.3\.1\.1\.5\.2")
        text = wait_log(log, r"OID: \.1\.3\.6\.1\.4\.1\.8072\.9999\.9999\.5433\.0\.1\b")
        assert re.search(r"5433\.1\.5\.2\.0 = STRING: \"datastore\"", text)
        # A bad community: authenticationFailure.
        v2c(agent, "snmpget", SYS_NAME, community="wrong", check=False)
        wait_log(log, r"OID: \.1\.3\.6\.1\.6\.3\.1\.1\.5\.5")
        # The v1 target: config-changed as enterprise lifelineMIB, specific-trap 1
        # (RFC 3584's mapping of ...5433.0.1), warmStart as a generic trap.
        wait_log(log, r"TRAP, SNMP v1, community public\n\t\.1\.3\.6\.1\.4\.1\.8072\.9999\.9999\.5433 "
                      r"Enterprise Specific Trap \(1\)")
        wait_log(log, r"TRAP, SNMP v1, community public\n\t\.1\.3\.6\.1\.4\.1\.8072\.9999\.9999\.5433\.3\.1 "
                      r"Warm Start Trap")
        time.sleep(2)
        text = log.read_text()
        # One commit, so one config-changed per v2/v3 target: v2c trap and
        # inform, v3 trap and inform (the v1 copy is checked above).
        assert len(re.findall(r"= OID: \.1\.3\.6\.1\.4\.1\.8072\.9999\.9999\.5433\.0\.1\s", text)) == 4, text
        with agent.connect() as m:
            state = m.get(filter=("subtree", f'<snmp xmlns="{SNMP_NS}"><engine/></snmp>')).data_xml
        assert "<informs-unacknowledged>0</informs-unacknowledged>" in state, state
    finally:
        p.terminate()
