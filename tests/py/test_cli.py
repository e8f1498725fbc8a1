"""The SSH CLI driven by OpenSSH: non-interactive commands and scripts, and an
interactive session through pexpect (completion, ? help, errors, commit confirmed)."""
import time

import pexpect
import pytest

from conftest import Daemon

SYS = "urn:ietf:params:xml:ns:yang:ietf-system"


def netconf_hostname(d):
    with d.connect() as m:
        reply = m.get_config(source="running", filter=("subtree", f'<system xmlns="{SYS}"><hostname/></system>'))
        return reply.data_ele.find(f".//{{{SYS}}}hostname").text


def test_exec_show_and_exit_status(daemon):
    rc, out = daemon.cli("show system hostname")
    assert rc == 0 and "hostname lifeline;" in out
    rc, out = daemon.cli("show nosuch")
    assert rc != 0 and "nosuch" in out
    rc, out = daemon.cli("show configuration system | display xml")
    assert rc == 0 and "<hostname>lifeline</hostname>" in out
    rc, out = daemon.cli("show configuration system | display json")
    assert rc == 0 and '"hostname": "lifeline"' in out
    rc, out = daemon.cli("show configuration system | display set")
    assert rc == 0 and "set system hostname lifeline" in out


def test_script_on_stdin_commits_and_netconf_sees_it(daemon):
    script = "configure\nset system hostname from-cli\nshow | compare\ncommit comment \"cli test\"\n"
    rc, out = daemon.cli(stdin=script)
    assert rc == 0, out
    assert "+ set system hostname from-cli" in out and "commit complete" in out
    assert netconf_hostname(daemon) == "from-cli"
    rc, out = daemon.cli("show rollback")
    assert "cli test" in out


def test_netconf_change_is_seen_in_cli(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running",
                      config=f'<config><system xmlns="{SYS}"><contact>noc@example.net</contact></system></config>')
    rc, out = daemon.cli("show configuration system contact")
    assert "contact noc@example.net;" in out


def test_script_errors_give_nonzero_status_and_change_nothing(daemon):
    rc, out = daemon.cli(stdin="configure\nset system hostname\nset system nosuch 1\ncommit\n")
    assert rc == 1
    assert "hostname needs a value" in out
    assert netconf_hostname(daemon) == "lifeline"


def test_validation_error_shows_the_path(daemon):
    rc, out = daemon.cli(stdin="configure\nset system authentication user bob\ncommit\n")
    # bob has no password: fine for the model, so this commits; now break a leafref-free rule:
    rc, out = daemon.cli(stdin="configure\nset system hostname " + "x" * 300 + "\n")
    assert rc == 1 and "error" in out and "/ietf-system:system/hostname" in out


def test_rollback_and_delete(daemon):
    daemon.cli(stdin="configure\nset system location rack-7\ncommit\n")
    rc, out = daemon.cli(stdin="configure\ndelete system location\ncommit\n")
    assert rc == 0, out
    rc, out = daemon.cli("show configuration system")
    assert "location" not in out
    rc, out = daemon.cli(stdin="configure\nrollback 1\nshow | compare\ncommit\n")
    assert rc == 0 and "+ set system location rack-7" in out, out
    rc, out = daemon.cli("show configuration system location")
    assert "location rack-7;" in out


def test_read_only_user_is_denied(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=(
            f'<config><system xmlns="{SYS}"><authentication><user><name>viewer</name>'
            f'<password>$0$viewer</password></user></authentication></system>'
            f'<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm"><groups><group><name>operator</name>'
            f'<user-name>viewer</user-name></group></groups></nacm></config>'))
    rc, out = daemon.cli("show system hostname", user="viewer", password="viewer")
    assert rc == 0 and "hostname lifeline;" in out
    rc, out = daemon.cli(stdin="configure\nset system hostname hacked\ncommit\n", user="viewer", password="viewer")
    assert rc == 1 and "may not" in out
    assert netconf_hostname(daemon) == "lifeline"


def spawn(d):
    child = pexpect.spawn("sshpass", ["-p", "admin"] + d.ssh_args()[:-1] + ["-tt", d.ssh_args()[-1]],
                          encoding="utf-8", timeout=15)
    child.expect(r"admin@lifeline> ")
    return child


def test_interactive_completion_help_and_errors(daemon):
    c = spawn(daemon)
    c.send("conf\t")
    c.expect("configure ")
    c.send("\r")
    c.expect(r"\[edit\]")
    c.expect(r"admin@lifeline# ")
    c.send("set sys\t")
    c.expect("set system ")
    c.send("?")
    # ? lists the children with their descriptions from the YANG model
    c.expect("hostname")
    c.expect(r"admin@lifeline# set system ")
    c.send("hostname ?")
    c.expect("domain-name|hostname|string")
    c.send("\x15set system bogus 1\r")
    c.expect("not expected here")
    # the failed line stays for correction
    c.expect(r"admin@lifeline# set system bogus 1")
    c.send("\x15edit system\r")
    c.expect(r"\[edit system\]")
    c.send("set location lab\r")
    c.expect(r"admin@lifeline# ")
    c.send("top\r")
    c.send("show | compare\r")
    c.expect(r"\+ set system location lab")
    c.send("commit\r")
    c.expect("commit complete")
    c.send("exit\r")
    c.expect(r"admin@lifeline> ")
    c.send("exit\r")
    c.expect(pexpect.EOF)


@pytest.mark.slow
def test_commit_confirmed_expires(daemon):
    c = spawn(daemon)
    c.send("configure\r")
    c.expect(r"admin@lifeline# ")
    c.send("set system hostname trial\r")
    c.expect(r"admin@lifeline# ")
    c.send("commit confirmed 1\r")
    c.expect("rolled back in 1 minutes")
    c.send("exit\rexit\r")
    assert netconf_hostname(daemon) == "trial"
    time.sleep(63)
    assert netconf_hostname(daemon) == "lifeline"


def test_new_leaf_of_a_test_module_appears_with_no_cli_code(tmp_path):
    ydir = tmp_path / "yang"
    ydir.mkdir()
    (ydir / "lifeline-test-extra.yang").write_text('''
module lifeline-test-extra {
  yang-version 1.1;
  namespace "urn:lifeline:test:extra";
  prefix tx;
  description "A module only the tests load.";
  revision 2026-11-23 { description "Test."; }
  container gadgets {
    description "Test gadgets.";
    list gadget {
      key id;
      description "One gadget.";
      leaf id { type string; description "Gadget id."; }
      leaf colour { type enumeration { enum red; enum green; } description "Colour of the gadget."; }
    }
  }
}
''')
    d = Daemon(tmp_path, extra_yang=ydir).start()
    try:
        rc, out = d.cli(stdin="configure\nset gadgets gadget g1 colour green\ncommit\n")
        assert rc == 0, out
        rc, out = d.cli("show configuration gadgets")
        assert "gadget g1 {" in out and "colour green;" in out
        c = spawn(d)
        c.send("configure\r")
        c.send("set gadgets gadget g1 colour ?")
        c.expect("green")
        c.expect("Colour of the gadget")
        c.send("\x15exit\rexit\r")
        with d.connect() as m:
            assert "<colour>green</colour>" in m.get_config(source="running").data_xml
    finally:
        d.stop()


def test_request_runs_a_yang_rpc(daemon):
    daemon.cli(stdin="configure\nset system location one\ncommit\n")
    daemon.cli(stdin="configure\nset system location two\ncommit\n")
    rc, out = daemon.cli("show rollback")
    assert rc == 0
    with daemon.connect() as m:
        hist = m.get(filter=("subtree", '<commit-history xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"/>')).data_xml
    import re
    ids = [int(i) for i in re.findall(r"<id>(\d+)</id>", hist)]
    rc, out = daemon.cli(f'request rollback id {ids[-2]} comment "back to one"')
    assert rc == 0 and "commit-id" in out, out
    rc, out = daemon.cli("show configuration system location")
    assert "location one;" in out


def test_private_candidate_merges_with_others_commits(daemon):
    a = spawn(daemon)
    a.send("configure private\r")
    a.expect("private candidate")
    a.expect(r"admin@lifeline# ")
    a.send("set system location private-room\r")
    a.expect(r"admin@lifeline# ")
    # Meanwhile another session commits through the shared candidate.
    rc, out = daemon.cli(stdin="configure\nset system contact noc@example.net\ncommit\n")
    assert rc == 0, out
    a.send("show | compare\r")
    a.expect(r"\+ set system location private-room")
    a.expect(r"admin@lifeline# ")
    assert "contact" not in a.before
    a.send("commit\r")
    a.expect("commit complete")
    a.send("exit\rexit\r")
    rc, out = daemon.cli("show configuration system")
    assert "location private-room;" in out and "contact noc@example.net;" in out


def test_cli_session_limits_from_the_model(daemon):
    rc, out = daemon.cli(stdin="configure\nset management cli idle-timeout 2\nset management cli max-sessions 1\ncommit\n")
    assert rc == 0, out
    c = spawn(daemon)
    rc, out = daemon.cli("show system hostname")
    assert rc != 0 and "too many CLI sessions" in out
    c.expect("idle timeout", timeout=10)
    c.expect(pexpect.EOF)
    rc, out = daemon.cli("show system hostname")
    assert rc == 0, out


def test_operational_show_includes_state(daemon):
    rc, out = daemon.cli("show interfaces-state interface lo")
    assert rc == 0 and "softwareLoopback" in out and "in-octets" in out, out
    rc, out = daemon.cli("show netconf-state statistics")
    assert rc == 0 and "in-rpcs" in out, out
    rc, out = daemon.cli("show log 5")
    assert rc == 0 and "management-session-start" in out, out


def test_completion_offers_existing_keys(daemon):
    c = spawn(daemon)
    c.send("show system authentication user ?")
    c.expect("admin")
    c.expect(r"admin@lifeline> show system authentication user ")
    c.send("a\t")
    c.expect("user admin ")
    c.send("\x15exit\r")
    c.expect(pexpect.EOF)
