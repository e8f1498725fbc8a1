"""Auto-response rules and the ietf-alarms alarm list, end to end: rules on
config-changed and login-failure events and on a ping check, with script, e-mail
(a local aiosmtpd), outlet (Powerman's vpcd) actions; the alarm list, operator
states, shelving, purge, summary and inventory over ncclient, alarm
notifications; refusals at commit; a hung script killed; NACM denying a rule's
run-as user; a delayed action across kill -9; a rate limit against a flapping
host in a network namespace."""
import os
import re
import secrets
import shutil
import subprocess
import threading
import time

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele

from conftest import Daemon, free_port
from peers import Powerman, stop, wait_for
from test_nacm import NACM
from test_notifications import collect, commit_hostname
from test_power import OPERATOR, configure, powerman_xml

AR = "urn:lifeline:params:xml:ns:yang:lifeline-auto-response"
AL = "urn:ietf:params:xml:ns:yang:ietf-alarms"
LLT = "urn:lifeline:params:xml:ns:yang:lifeline-types"
YANG1 = "urn:ietf:params:xml:ns:yang:1"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
VENV_PY = os.environ.get("LIFELINE_VENV", "/opt/lifeline-venv") + "/bin/python"


# ----- configuration -----

def auto_response(rules, interval=1, attempts=2, extra=""):
    """The auto-response container: no boot delay, fast retries."""
    return (f'<auto-response xmlns="{AR}"><boot-delay>0</boot-delay>'
            f'<action-retry><interval>{interval}</interval><attempts>{attempts}</attempts></action-retry>'
            f'{extra}{rules}</auto-response>')


def on_event(kind):
    return f'<event xmlns:llt="{LLT}">llt:{kind}</event>'


def rule(name, trigger, actions, run_as="admin", extra=""):
    return (f'<rule><name>{name}</name><run-as>{run_as}</run-as><trigger>{trigger}</trigger>'
            f'{extra}{actions}</rule>')


def script(name, path, *args, timeout=None, delay=None):
    argv = "".join(f"<argument>{a}</argument>" for a in args)
    t = f"<timeout>{timeout}</timeout>" if timeout else ""
    d = f"<delay>{delay}</delay>" if delay is not None else ""
    return f"<action><name>{name}</name>{d}<script><path>{path}</path>{argv}{t}</script></action>"


def edit(m, xml):
    m.edit_config(target="candidate", config=f"<config>{xml}</config>")
    m.commit()


# ----- state -----

def local(el):
    return etree.QName(el).localname


def leaves(el):
    return {local(c): c.text or "" for c in el if len(c) == 0}


def rule_state(m, name):
    """The rule's state leaves, with `action` {name: leaves}."""
    data = m.get(filter=("subtree", f'<auto-response xmlns="{AR}"><rule><name>{name}</name></rule></auto-response>')).data_ele
    r = data.find(f"{{{AR}}}auto-response/{{{AR}}}rule")
    assert r is not None, etree.tostring(data).decode()
    out = leaves(r)
    for n in ("trigger-count", "suppressed-count"):
        out[n] = int(out.get(n, 0))
    out["action"] = {}
    for a in r.findall(f"{{{AR}}}action"):
        v = leaves(a)
        v["runs"], v["failures"] = int(v.get("runs", 0)), int(v.get("failures", 0))
        out["action"][v["name"]] = v
    return out


def rule_of(resource):
    """The rule an alarm's resource names (`.../rule[name='r1']`, any prefixes)."""
    m = re.search(r"rule\[(?:[\w-]+:)?name='([^']*)'\]", resource or "")
    return m and m.group(1)


def alarm_rows(parent, tag):
    rows = []
    for a in parent.findall(f"{{{AL}}}{tag}"):
        v = leaves(a)
        v["type"] = v["alarm-type-id"].split(":")[-1]
        v["rule"] = rule_of(v["resource"])
        v["history"] = [(h.findtext(f"{{{AL}}}perceived-severity"), h.findtext(f"{{{AL}}}alarm-text"))
                        for h in a.findall(f"{{{AL}}}status-change")]
        v["operator"] = [(o.findtext(f"{{{AL}}}state"), o.findtext(f"{{{AL}}}operator"), o.findtext(f"{{{AL}}}text"))
                         for o in a.findall(f"{{{AL}}}operator-state-change")]
        rows.append(v)
    return rows


def alarms_tree(m):
    data = m.get(filter=("subtree", f'<alarms xmlns="{AL}"/>')).data_ele
    return data.find(f"{{{AL}}}alarms")


def alarm_list(m):
    return alarm_rows(alarms_tree(m).find(f"{{{AL}}}alarm-list"), "alarm")


def shelved_list(m):
    s = alarms_tree(m).find(f"{{{AL}}}shelved-alarms")
    return [] if s is None else alarm_rows(s, "shelved-alarm")


def find(rows, rule_name, ty, qualifier=""):
    hits = [a for a in rows if a["rule"] == rule_name and a["type"] == ty and a["alarm-type-qualifier"] == qualifier]
    return hits[0] if hits else None


def alarm_key_xml(rule_name, ty, qualifier=""):
    return (f'<resource xmlns:ll-ar="{AR}">/ll-ar:auto-response/ll-ar:rule[ll-ar:name=\'{rule_name}\']</resource>'
            f'<alarm-type-id xmlns:ll-ar="{AR}">ll-ar:{ty}</alarm-type-id>'
            f'<alarm-type-qualifier>{qualifier}</alarm-type-qualifier>')


def alarms_action(m, body):
    return m.dispatch(to_ele(f'<action xmlns="{YANG1}"><alarms xmlns="{AL}">{body}</alarms></action>'))


def running(m):
    return m.get_config(source="running").data_xml


# ----- 1. the alarm list -----

def test_alarm_list_operator_states_shelving_purge_summary_inventory_and_notifications(daemon):
    d = daemon
    with d.connect() as listener, d.connect() as m:
        listener.create_subscription()
        # The commit that creates the rules is itself a config-changed event
        # that they see. r-ok is a pulse (reset-timeout 0, no opposite): it
        # triggers and resolves at once. r-fail holds for ten minutes.
        edit(m, auto_response(
            rule("r-ok", on_event("config-changed"), script("ok", "/bin/true"),
                 extra="<reset-timeout>0</reset-timeout>") +
            rule("r-fail", on_event("config-changed"), script("fail", "/bin/false"),
                 extra="<reset-timeout>600</reset-timeout>")))
        t0 = time.time()

        # r-ok raised its rule-condition alarm and cleared it.
        a = wait_for("r-ok's alarm raised and cleared",
                     lambda: (a := find(alarm_list(m), "r-ok", "rule-condition")) and a["is-cleared"] == "true" and a)
        assert [h[0] for h in a["history"]] == ["major", "cleared"], a
        assert "triggered by config-changed" in a["history"][0][1], a
        s = rule_state(m, "r-ok")
        assert s["state"] == "resolved" and s["trigger-count"] == 1, s
        assert s["action"]["ok"]["last-result"] == "ok" and s["action"]["ok"]["runs"] == 1, s

        # The subscriber got an alarm-notification for the raise and the clear.
        got = collect(listener, ["<perceived-severity>cleared</perceived-severity>"], timeout=10)
        mine = [g for g in got if "alarm-notification" in g and "r-ok" in g]
        sev = [re.search(r"<perceived-severity>(\w+)</perceived-severity>", g).group(1) for g in mine]
        assert sev[:2] == ["major", "cleared"], got
        assert all("rule-condition" in g for g in mine), mine

        # r-fail's action failed, was retried twice a second apart, and gave up.
        s = wait_for("three failed runs of fail", lambda: (s := rule_state(m, "r-fail"))
                     and s["action"]["fail"]["failures"] >= 3 and s, timeout=10)
        took = time.time() - t0
        assert 1.5 < took < 6, took
        time.sleep(1.5)
        s = rule_state(m, "r-fail")
        f = s["action"]["fail"]
        assert (f["runs"], f["failures"]) == (3, 3), s
        assert f["last-result"] == "failed" and "exit status: 1" in f["last-error"], f
        assert "next-run" not in f, f
        assert s["state"] == "triggered" and s["trigger-count"] == 1, s
        failed = find(alarm_list(m), "r-fail", "action-failed", "fail")
        assert failed and failed["is-cleared"] == "false" and failed["perceived-severity"] == "major", failed
        assert "/bin/false" in failed["alarm-text"], failed

        # An operator acknowledges it, with a text.
        alarms_action(m, f'<alarm-list><alarm>{alarm_key_xml("r-fail", "action-failed", "fail")}'
                         f'<set-operator-state><state>ack</state><text>looking into it</text></set-operator-state>'
                         f'</alarm></alarm-list>')
        failed = find(alarm_list(m), "r-fail", "action-failed", "fail")
        assert failed["operator"] == [("ack", "admin", "looking into it")], failed

        # A shelf for r-fail's resource moves both its alarms to the shelved list.
        resource = f"<resource xmlns:ll-ar=\"{AR}\">/ll-ar:auto-response/ll-ar:rule[ll-ar:name='r-fail']</resource>"
        edit(m, f'<alarms xmlns="{AL}"><control><alarm-shelving><shelf><name>maint</name>{resource}'
                f'</shelf></alarm-shelving></control></alarms>')
        wait_for("r-fail's alarms off the alarm list",
                 lambda: not [a for a in alarm_list(m) if a["rule"] == "r-fail"])
        shelved = shelved_list(m)
        assert sorted(a["type"] for a in shelved if a["rule"] == "r-fail") == ["action-failed", "rule-condition"], shelved
        sf = find(shelved, "r-fail", "action-failed", "fail")
        assert sf["shelf-name"] == "maint" and sf["operator"][-1][0] == "shelved", sf
        n = alarms_tree(m).findtext(f"{{{AL}}}shelved-alarms/{{{AL}}}number-of-shelved-alarms")
        assert n == "2", n
        # Shelved alarms are left out of the summary.
        summary = alarms_tree(m).find(f"{{{AL}}}summary")
        assert summary.find(f"{{{AL}}}shelves-active") is not None, etree.tostring(summary)

        # Removing the shelf gives them back, un-shelved, the ack kept.
        m.edit_config(target="candidate", config=(
            f'<config><alarms xmlns="{AL}"><control><alarm-shelving><shelf xmlns:nc="{NC}" nc:operation="delete">'
            f'<name>maint</name></shelf></alarm-shelving></control></alarms></config>'))
        m.commit()
        wait_for("r-fail's alarms back", lambda: len([a for a in alarm_list(m) if a["rule"] == "r-fail"]) == 2)
        assert not shelved_list(m)
        back = find(alarm_list(m), "r-fail", "action-failed", "fail")
        assert [o[0] for o in back["operator"]] == ["ack", "shelved", "un-shelved"], back
        assert back["is-cleared"] == "false", back

        # purge-alarms of the cleared ones (r-ok's, cleared after each commit).
        rows = alarm_list(m)
        cleared = [(a["rule"], a["type"]) for a in rows if a["is-cleared"] == "true"]
        assert ("r-ok", "rule-condition") in cleared, rows
        reply = alarms_action(m, '<alarm-list><purge-alarms><alarm-clearance-status>cleared</alarm-clearance-status>'
                                 '</purge-alarms></alarm-list>')
        n = re.search(r"<purged-alarms[^>]*>(\d+)</purged-alarms>", reply.xml)
        assert n and int(n.group(1)) == len(cleared), reply.xml
        rows = alarm_list(m)
        assert not [a for a in rows if a["is-cleared"] == "true"], rows
        assert sorted((a["rule"], a["type"]) for a in rows) == [("r-fail", "action-failed"), ("r-fail", "rule-condition")], rows

        # The summary counts what is left: two major, raised, not closed.
        tree = alarms_tree(m)
        assert tree.findtext(f"{{{AL}}}alarm-list/{{{AL}}}number-of-alarms") == "2"
        counts = {r.findtext(f"{{{AL}}}severity"): leaves(r) for r in tree.findall(f"{{{AL}}}summary/{{{AL}}}alarm-summary")}
        assert set(counts) == {"major"}, counts
        major = counts["major"]
        assert (major["total"], major["not-cleared"], major["cleared"], major["not-cleared-not-closed"]) == \
            ("2", "2", "0", "2"), major

        # The inventory lists every type, the action alarms per action name.
        inv = {(t.findtext(f"{{{AL}}}alarm-type-id").split(":")[-1], t.findtext(f"{{{AL}}}alarm-type-qualifier") or "")
               for t in tree.findall(f"{{{AL}}}alarm-inventory/{{{AL}}}alarm-type")}
        for ty in ("rule-condition", "port-device-missing", "power-device-unreachable", "ups-on-battery", "uplink-down"):
            assert (ty, "") in inv, inv
        for ty in ("action-failed", "action-denied"):
            assert {(ty, "fail"), (ty, "ok")} <= inv, inv


def test_set_operator_state_sends_operator_action(daemon):
    """RFC 8632's operator-actions feature: a change of operator state is
    notified with the alarm's operator-action notification."""
    with daemon.connect() as listener, daemon.connect() as m:
        edit(m, auto_response(rule("held", on_event("config-changed"), script("ok", "/bin/true"),
                                   extra="<reset-timeout>600</reset-timeout>")))
        wait_for("held's alarm", lambda: find(alarm_list(m), "held", "rule-condition"))
        listener.create_subscription()
        alarms_action(m, f'<alarm-list><alarm>{alarm_key_xml("held", "rule-condition")}'
                         f'<set-operator-state><state>ack</state><text>mine</text></set-operator-state>'
                         f'</alarm></alarm-list>')
        assert find(alarm_list(m), "held", "rule-condition")["operator"] == [("ack", "admin", "mine")]
        got = [g for g in collect(listener, ["operator-action"], timeout=5) if "operator-action" in g]
        assert got, "no operator-action notification"
        assert "<state>ack</state>" in got[0] and "<operator>admin</operator>" in got[0], got
        assert "<text>mine</text>" in got[0] and "held" in got[0], got


# ----- 2. refusals -----

BAD = {
    "outlet of a device that does not exist":
        ("<action><name>a</name><outlet><device>nope</device><outlet>t1</outlet></outlet></action>", "",
         "/action[name='a']/outlet/"),
    "snmp tag no notify entry has":
        ("<action><name>a</name><snmp-notification><tag>nope</tag></snmp-notification></action>", "",
         "/action[name='a']/snmp-notification/tag"),
    "uplink that does not exist":
        ("<action><name>a</name><uplink><name>nope</name><operation>down</operation></uplink></action>", "",
         "/action[name='a']/uplink/name"),
    "email without auto-response/email":
        ("<action><name>a</name><email><to>noc@example.net</to></email></action>", "",
         "/action[name='a']/email"),
    "run-as user that does not exist":
        ('<action><name>a</name><script><path>/bin/true</path></script></action>', "ghost", "/run-as"),
}


def test_bad_rules_are_refused_with_their_path_and_change_nothing(daemon):
    with daemon.connect() as m:
        edit(m, auto_response(rule("good", on_event("login-failure"), script("s", "/bin/true"))))
        before = running(m)
        for what, (action, run_as, leaf) in BAD.items():
            cfg = auto_response(rule("bad", on_event("config-changed"), action, run_as=run_as or "admin"))
            for target in ("running", "candidate"):
                with pytest.raises(RPCError) as e:
                    m.edit_config(target=target, config=f"<config>{cfg}</config>")
                    if target == "candidate":
                        m.commit()
                # The path without its prefixes: /auto-response/rule[name='bad']/...
                path = re.sub(r"(?<=[/\[])[\w-]+:", "", e.value.path or "")
                assert path.startswith("/auto-response/rule[name='bad']/") and leaf in path, \
                    (what, target, e.value.path, e.value.message)
                if target == "candidate":
                    m.discard_changes()
                assert running(m) == before, what
        s = rule_state(m, "good")
        assert s["state"] == "idle", s


# ----- 3. a hung script -----

def sleepers(arg):
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"/bin/sleep", arg.encode()]:
            out.append(int(pid))
    return out


def test_a_hung_script_is_killed_and_the_rule_goes_on(daemon):
    arg = f"{55 + secrets.randbelow(400) / 100:.2f}"  # a sleep no one else runs
    with daemon.connect() as m:
        t0 = time.time()
        edit(m, auto_response(rule("hang", on_event("config-changed"),
                                   script("sleep", "/bin/sleep", arg, timeout=1),
                                   extra="<reset-timeout>2</reset-timeout>"), attempts=0))
        wait_for("the script running", lambda: sleepers(arg), timeout=5)
        s = wait_for("the script killed", lambda: (s := rule_state(m, "hang"))
                     and s["action"]["sleep"].get("last-result") == "failed" and s, timeout=8)
        assert time.time() - t0 < 4, time.time() - t0
        assert "killed" in s["action"]["sleep"]["last-error"], s
        assert not sleepers(arg), "the script outlived its timeout"
        a = find(alarm_list(m), "hang", "action-failed", "sleep")
        assert a and a["is-cleared"] == "false", a
        # Not stuck: it resolves after its reset timeout ...
        s = wait_for("hang resolved", lambda: (s := rule_state(m, "hang"))["state"] == "resolved" and s, timeout=6)
        assert find(alarm_list(m), "hang", "action-failed", "sleep")["is-cleared"] == "true"
        # ... and the next event triggers it again, and runs the action again.
        commit_hostname(m, "again")
        s = wait_for("hang triggered again", lambda: (s := rule_state(m, "hang"))["trigger-count"] == 2 and s)
        s = wait_for("the second run killed", lambda: (s := rule_state(m, "hang"))
                     and s["action"]["sleep"]["failures"] == 2 and s, timeout=6)
        assert s["action"]["sleep"]["runs"] == 2 and "killed" in s["action"]["sleep"]["last-error"], s
        wait_for("no sleeper left", lambda: not sleepers(arg), timeout=3)


# ----- 4. NACM decides for the run-as user -----

NO_POWER = f"""<nacm xmlns="{NACM}"><rule-list><name>no-power</name><group>operator</group>
  <rule><name>no-outlets</name><module-name>lifeline-power</module-name>
    <path xmlns:ll-power="urn:lifeline:params:xml:ns:yang:lifeline-power">/ll-power:power/ll-power:device/ll-power:outlet</path>
    <access-operations>exec</access-operations><action>deny</action></rule></rule-list></nacm>"""


def test_an_action_nacm_denies_the_run_as_user_is_not_retried(daemon, tmp_path):
    with Powerman(tmp_path) as pm, daemon.connect() as m:
        configure(daemon, powerman_xml(pm, "<outlet><id>t1</id><cycle-delay>1</cycle-delay></outlet>")
                  + OPERATOR + NO_POWER)
        assert pm.query()["t1"] == "off"

        def cycler(run_as):
            return auto_response(rule("reboot", on_event("config-changed"),
                                      "<action><name>cycle</name><outlet><device>pdu</device><outlet>t1</outlet>"
                                      "<operation>cycle</operation></outlet></action>",
                                      run_as=run_as, extra="<reset-timeout>600</reset-timeout>"))
        edit(m, cycler("operator"))
        s = wait_for("the action denied", lambda: (s := rule_state(m, "reboot"))
                     and s["action"]["cycle"].get("last-result") == "denied" and s)
        a = find(alarm_list(m), "reboot", "action-denied", "cycle")
        assert a and a["is-cleared"] == "false", alarm_list(m)
        assert not find(alarm_list(m), "reboot", "action-failed", "cycle")
        # Not retried: still one run well after the retry interval.
        time.sleep(2.5)
        s = rule_state(m, "reboot")
        c = s["action"]["cycle"]
        assert (c["runs"], c["failures"]) == (1, 1) and "next-run" not in c, s
        assert pm.query()["t1"] == "off"
        # Run as admin, the changed rule clears the alarm, and its own commit cycles the outlet.
        edit(m, cycler("admin"))
        wait_for("the outlet cycled", lambda: rule_state(m, "reboot")["action"]["cycle"].get("last-result") == "ok",
                 timeout=15)
        assert pm.query()["t1"] == "on"
        assert find(alarm_list(m), "reboot", "action-denied", "cycle")["is-cleared"] == "true"


# ----- 5. e-mail -----

class Smtpd:
    """aiosmtpd's debugging server on loopback: every message on its stdout."""

    def __init__(self, port, tls=()):
        self.port = port
        self.tls = list(tls)
        self.proc = None
        self.out = []
        self.lock = threading.Lock()

    def start(self):
        self.proc = subprocess.Popen([VENV_PY, "-u", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}", *self.tls],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        wait_for("aiosmtpd", self._listening)
        return self

    def _listening(self):
        import socket
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
            return s.recv(100).startswith(b"220")

    def _read(self, proc):
        for line in proc.stdout:
            with self.lock:
                self.out.append(line)

    def messages(self):
        with self.lock:
            text = "".join(self.out)
        return re.findall(r"-+ MESSAGE FOLLOWS -+\n(.*?)\n-+ END MESSAGE -+", text, re.S)

    def stop(self):
        stop(self.proc)


def test_email_action_delivers_fails_while_the_server_is_down_and_retries(daemon):
    port = free_port()
    smtpd = Smtpd(port).start()
    try:
        with daemon.connect() as m:
            edit(m, auto_response(
                rule("bad-login", on_event("login-failure"),
                     "<action><name>mail</name><email><to>noc@example.net</to></email></action>"),
                interval=4, attempts=2,
                extra=f"<email><server>127.0.0.1</server><port>{port}</port><security>none</security>"
                      "<from>lifeline@example.net</from></email>"))
            rc, out = daemon.cli("true", user="mallory", password="wrong")
            assert rc != 0, out
            msg = wait_for("the mail", lambda: smtpd.messages(), timeout=15)[0]
            assert "noc@example.net" in msg and "lifeline@example.net" in msg, msg
            assert "bad-login" in msg, msg
            assert re.search(r"username\s*[:=]\s*mallory", msg), msg
            assert "login-failure" in msg, msg
            assert rule_state(m, "bad-login")["action"]["mail"]["last-result"] == "ok"

            # The server goes away: the action fails and raises action-failed.
            smtpd.stop()
            daemon.cli("true", user="mallory", password="wrong")
            s = wait_for("the mail failed", lambda: (s := rule_state(m, "bad-login"))
                         and s["action"]["mail"].get("last-result") == "failed" and s)
            assert s["action"]["mail"].get("next-run"), s
            a = find(alarm_list(m), "bad-login", "action-failed", "mail")
            assert a and a["is-cleared"] == "false", alarm_list(m)
            # Back on the same port before the retry: the retry delivers and clears the alarm.
            smtpd = Smtpd(port).start()
            wait_for("the retried mail", lambda: len(smtpd.messages()) > 0, timeout=15)
            assert "mallory" in smtpd.messages()[0]
            wait_for("the alarm cleared",
                     lambda: find(alarm_list(m), "bad-login", "action-failed", "mail")["is-cleared"] == "true")
            s = rule_state(m, "bad-login")["action"]["mail"]
            assert s["last-result"] == "ok" and s["failures"] >= 1, s
    finally:
        smtpd.stop()


def test_email_over_starttls_trusts_the_configured_ca_only(daemon, tmp_path):
    """aiosmtpd requiring STARTTLS with a certificate of our own CA: the mail
    goes with that CA as ca-certificate, and another CA fails the action with
    the certificate named."""
    from test_power_tls import make_ca, run as sh
    ca = make_ca(tmp_path / "ca", "Mail CA")
    other = make_ca(tmp_path / "other", "Other CA")
    d = tmp_path / "srv"
    d.mkdir()
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
       "-keyout", str(d / "key.pem"), "-out", str(d / "csr"))
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                           "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", str(d / "csr"), "-CA", str(ca), "-CAkey", str(ca.parent / "ca.key"),
       "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext"), "-out", str(d / "cert.pem"))
    port = free_port()
    smtpd = Smtpd(port, ["--tlscert", str(d / "cert.pem"), "--tlskey", str(d / "key.pem")]).start()

    def config(ca_file):
        return auto_response(
            rule("tls-mail", on_event("login-failure"),
                 "<action><name>mail</name><email><to>noc@example.net</to></email></action>"),
            interval=60, attempts=0,
            extra=f"<email><server>127.0.0.1</server><port>{port}</port><security>starttls</security>"
                  f"<ca-certificate>{ca_file}</ca-certificate><from>lifeline@example.net</from></email>")
    try:
        with daemon.connect() as m:
            edit(m, config(ca))
            daemon.cli("true", user="mallory", password="wrong")
            msg = wait_for("the mail over STARTTLS", lambda: smtpd.messages(), timeout=15)[0]
            assert "tls-mail" in msg and "mallory" in msg, msg
            edit(m, config(other))
            daemon.cli("true", user="mallory", password="wrong")
            s = wait_for("the refused certificate", lambda: (s := rule_state(m, "tls-mail"))
                         and s["action"]["mail"].get("last-result") == "failed" and s, timeout=15)
            assert "certificate" in s["action"]["mail"]["last-error"].lower(), s
            assert len(smtpd.messages()) == 1
            # A CA file that is not there refuses the commit.
            with pytest.raises(RPCError):
                edit(m, config(tmp_path / "missing.pem"))
    finally:
        smtpd.stop()


# ----- 6. a delayed action across kill -9 -----

def test_a_delayed_action_runs_once_across_a_kill9(tmp_path):
    d = Daemon(tmp_path).start()
    out = tmp_path / "ran"
    try:
        with d.connect() as m:
            t0 = time.time()
            edit(m, auto_response(rule("late", on_event("config-changed"),
                                       script("stamp", "/bin/sh", "-c", f"date +%s.%N >> {out}", delay=4),
                                       extra="<reset-timeout>30</reset-timeout>")))
            wait_for("late triggered", lambda: rule_state(m, "late")["trigger-count"] == 1)
        time.sleep(max(0, t0 + 1.5 - time.time()))
        assert not out.exists()
        d.kill9()
        d.start()
        wait_for("the stamp", out.exists, timeout=12)
        time.sleep(max(0, t0 + 11 - time.time()))
        lines = out.read_text().split()
        assert len(lines) == 1, lines
        assert 3.5 <= float(lines[0]) - t0 <= 8, float(lines[0]) - t0
        with d.connect() as m:
            s = rule_state(m, "late")
        assert s["trigger-count"] == 1 and s["action"]["stamp"]["runs"] == 1, s
        assert s["action"]["stamp"]["last-result"] == "ok", s
    finally:
        d.stop()


def test_a_port_alarm_from_before_a_restart_clears_when_the_device_is_back(tmp_path):
    """The port's device is missing: port-device-missing is raised. lifelined
    stops, the device comes back, lifelined starts: no event says so (the
    port never saw it go), and the live state clears the alarm."""
    from test_console import Line
    line = Line(tmp_path)
    port = (f'<ports xmlns="urn:lifeline:params:xml:ns:yang:lifeline-ports"><port><name>port01</name>'
            f'<number>1</number><device>{line.device}</device></port></ports>')
    d = Daemon(tmp_path).start()

    def port_alarm(m):
        return next((a for a in alarm_list(m) if a["type"] == "port-device-missing"), None)
    try:
        with d.connect() as m:
            edit(m, port)
            wait_for("the port alarm", lambda: (a := port_alarm(m)) and a["is-cleared"] == "false")
        d.stop()
        line.plug()
        d.start()
        with d.connect() as m:
            a = port_alarm(m)
            assert a and a["is-cleared"] == "false", "the alarm survives the restart"
            a = wait_for("the alarm cleared by the live state",
                         lambda: (a := port_alarm(m)) and a["is-cleared"] == "true" and a, timeout=25)
            assert "live state" in a["alarm-text"], a
    finally:
        d.stop()
        line.unplug()


# ----- 7. a rate limit against a flapping host -----

def test_a_ping_check_of_a_host_that_answers_does_not_trigger(daemon):
    if os.geteuid() != 0:
        pytest.skip("ICMP echo needs a raw socket (root)")
    with daemon.connect() as m:
        edit(m, auto_response(rule(
            "lo-down", "<check><interval>1</interval><timeout>1</timeout><ping><host>127.0.0.1</host></ping></check>",
            script("s", "/bin/true"))))
        wait_for("two checks", lambda: rule_state(m, "lo-down").get("last-check"), timeout=5)
        time.sleep(2.5)
        s = rule_state(m, "lo-down")
        assert "answered" in s["last-check"], s
        assert s["state"] == "idle" and s["trigger-count"] == 0, s
        assert not find(alarm_list(m), "lo-down", "rule-condition")


def have_netns():
    return os.geteuid() == 0 and shutil.which("ip") and shutil.which("nft")


class Far:
    """A network namespace behind a veth pair: the root side 10.203.x.1/30,
    the namespace side 10.203.x.2/30. Only that connected /30 is added to
    the root namespace; all of it goes on close."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.ns, self.near, self.far = f"llar-{tag}", f"llar{tag}a", f"llar{tag}b"
        self.created = []
        for _ in range(20):
            x = secrets.randbelow(256)
            routes = subprocess.run(["ip", "-4", "route", "show", "to", "match", f"10.203.{x}.1"],
                                    capture_output=True, text=True).stdout
            if "10.203." not in routes:
                break
        self.host, self.peer = f"10.203.{x}.1", f"10.203.{x}.2"
        try:
            self.sh("ip", "netns", "add", self.ns)
            self.created.append("ns")
            self.sh("ip", "link", "add", self.near, "type", "veth", "peer", "name", self.far, "netns", self.ns)
            self.created.append("link")
            self.sh("ip", "addr", "add", f"{self.host}/30", "dev", self.near)
            self.sh("ip", "link", "set", self.near, "up")
            self.sh("ip", "-n", self.ns, "addr", "add", f"{self.peer}/30", "dev", self.far)
            self.sh("ip", "-n", self.ns, "link", "set", self.far, "up")
            self.sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def sh(*args, **kw):
        return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw)

    def pings(self):
        return subprocess.run(["ping", "-c", "1", "-W", "1", self.peer], capture_output=True).returncode == 0

    def drop(self):
        self.sh("ip", "netns", "exec", self.ns, "nft", "-f", "-", input=(
            "table inet lldrop {\n chain input { type filter hook input priority 0; policy drop; }\n}\n"))

    def heal(self):
        subprocess.run(["ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", "lldrop"],
                       capture_output=True)

    def close(self):
        if "link" in self.created:
            subprocess.run(["ip", "link", "del", self.near], capture_output=True)
        if "ns" in self.created:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@pytest.fixture
def far():
    if not have_netns():
        pytest.skip("needs root, ip and nft for a network namespace")
    try:
        f = Far()
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot make a network namespace: {e.stderr}")
    yield f
    f.close()


def test_a_flapping_host_cycles_the_outlet_at_most_max_triggers_times(far, daemon, tmp_path):
    assert far.pings()
    with Powerman(tmp_path) as pm, daemon.connect() as m:
        configure(daemon, powerman_xml(pm, "<outlet><id>t1</id><cycle-delay>1</cycle-delay></outlet>"))
        edit(m, auto_response(rule(
            "host-down",
            f"<check><interval>1</interval><timeout>1</timeout><ping><host>{far.peer}</host></ping></check>"
            "<holdoff>0</holdoff>",
            "<action><name>cycle</name><outlet><device>pdu</device><outlet>t1</outlet>"
            "<operation>cycle</operation></outlet></action>",
            extra="<rate-limit><max-triggers>2</max-triggers><period>3600</period></rate-limit>")))
        wait_for("the host answering", lambda: "answered" in rule_state(m, "host-down").get("last-check", ""))
        cycled = []
        for flap in range(4):
            pm.pm("-0", "t1")
            wait_for("t1 off", lambda: pm.query()["t1"] == "off")
            far.drop()
            s = wait_for(f"flap {flap} seen", lambda: (s := rule_state(m, "host-down"))
                         and s["trigger-count"] + s["suppressed-count"] == flap + 1 and s, timeout=10)
            if flap < 2:
                wait_for("t1 cycled on", lambda: pm.query()["t1"] == "on", timeout=10)
            else:
                assert s["state"] == "rate-limited", s
                time.sleep(2)
            cycled.append(pm.query()["t1"] == "on")
            far.heal()
            wait_for(f"flap {flap} over", lambda: rule_state(m, "host-down")["state"] in ("resolved", "idle"),
                     timeout=10)
        assert cycled == [True, True, False, False], cycled
        s = rule_state(m, "host-down")
        assert (s["trigger-count"], s["suppressed-count"]) == (2, 2), s
        assert s["action"]["cycle"]["runs"] == 2 and s["action"]["cycle"]["last-result"] == "ok", s


def test_alarms_over_snmp_table_and_traps(tmp_path):
    """net-snmp's view: llAlarmTable walked with snmpwalk, and a rule's
    snmp-notification action and the alarm's raise reaching snmptrapd as
    llNotifyRuleNotification (to the action's tag only) and
    llNotifyAlarmRaised."""
    from test_snmp_agent import edit as snmp_edit, free_udp, snmp_config, target, trapd, v2c, wait_answer, wait_log
    if not shutil.which("snmptrapd"):
        pytest.skip("needs snmptrapd")
    d = Daemon(tmp_path).start()
    try:
        d.snmp = free_udp()
        d.addr = f"127.0.0.1:{d.snmp}"
        p, port, log = trapd(tmp_path)
        (tmp_path / "other").mkdir()
        p2, port2, log2 = trapd(tmp_path / "other")
        try:
            params = '<target-params><name>v2</name><v2c><security-name>reader</security-name></v2c></target-params>'
            # Two tags: the rule's action names noc only.
            snmp = snmp_config(d.snmp, extra=params + target("noc", port, "v2") + target("other", port2, "v2"))
            rules = auto_response(rule(
                "snmpr", on_event("config-changed"),
                '<action><name>tell</name><snmp-notification><tag>noc</tag></snmp-notification></action>',
                extra="<reset-timeout>600</reset-timeout>"))
            snmp_edit(d, snmp + rules)
            wait_answer(d.addr)
            text = wait_log(log, r"5433\.0\.32\b")
            assert "rule=snmpr" in text and "tag=noc" in text, text
            text = wait_log(log, r"5433\.0\.30\b")
            assert "rule-condition" in text, text
            walk = v2c(d, "snmpwalk", "1.3.6.1.4.1.8072.9999.9999.5433.1.6.1").stdout
            rows = re.findall(r"5433\.1\.6\.1\.1\.3\.(\d+) = STRING: \"([^\"]+)\"", walk)
            assert ("lifeline-auto-response:rule-condition" in [t for _, t in rows]), walk
            n = next(i for i, t in rows if t.endswith(":rule-condition"))
            assert re.search(rf"5433\.1\.6\.1\.1\.5\.{n} = INTEGER: 2\b", walk), walk  # not cleared
            assert re.search(rf"5433\.1\.6\.1\.1\.6\.{n} = INTEGER: 5\b", walk), walk  # major
            assert re.search(rf"5433\.1\.6\.1\.1\.2\.{n} = STRING: \".*rule\[name='snmpr'\]\"", walk), walk
            # The other tag's target hears the alarm, not the rule's action.
            other = wait_log(log2, r"5433\.0\.30\b")
            assert not re.search(r"5433\.0\.32\b", other), other
        finally:
            stop(p)
            stop(p2)
    finally:
        d.stop()
