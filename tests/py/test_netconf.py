"""NETCONF conformance of lifelined, driven by ncclient (a client we did not write)."""
import time

import pytest
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele

SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def hostname_cfg(name, op=None):
    attr = f' xmlns:nc="{NC}" nc:operation="{op}"' if op else ""
    return f'<config><system xmlns="{SYS}"><hostname{attr}>{name}</hostname></system></config>'


def user_cfg(name, op=None, password="$0$pw"):
    attr = f' xmlns:nc="{NC}" nc:operation="{op}"' if op else ""
    return (f'<config><system xmlns="{SYS}"><authentication><user{attr}><name>{name}</name>'
            f'<password>{password}</password></user></authentication></system></config>')


HOSTNAME_FILTER = ("subtree", f'<system xmlns="{SYS}"><hostname/></system>')


def hostname(m, source="running"):
    reply = m.get_config(source=source, filter=HOSTNAME_FILTER)
    found = reply.data_ele.find(f".//{{{SYS}}}hostname")
    return None if found is None else found.text


def test_hello_advertises_capabilities(daemon):
    with daemon.connect() as m:
        caps = set(m.server_capabilities)
        for c in ["urn:ietf:params:netconf:base:1.1",
                  "urn:ietf:params:netconf:capability:candidate:1.0",
                  "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
                  "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
                  "urn:ietf:params:netconf:capability:validate:1.1",
                  "urn:ietf:params:netconf:capability:startup:1.0",
                  "urn:ietf:params:netconf:capability:xpath:1.0",
                  "urn:ietf:params:netconf:capability:notification:1.0",
                  "urn:ietf:params:netconf:capability:interleave:1.0",
                  "urn:ietf:params:netconf:capability:writable-running:1.0"]:
            assert c in caps, c
        assert any(c.startswith("urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit") for c in caps)
        assert any(c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1") for c in caps)
        assert m.session_id is not None


def test_candidate_commit_persists_across_restart(daemon):
    with daemon.connect() as m:
        assert hostname(m) == "lifeline"
        m.edit_config(target="candidate", config=hostname_cfg("rack7-oob"))
        assert hostname(m, "candidate") == "rack7-oob"
        assert hostname(m) == "lifeline"
        m.commit()
        assert hostname(m) == "rack7-oob"
    daemon.restart()
    with daemon.connect() as m:
        assert hostname(m) == "rack7-oob"


def test_writable_running_and_discard(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=hostname_cfg("direct"))
        assert hostname(m) == "direct"
        m.edit_config(target="candidate", config=hostname_cfg("never"))
        m.discard_changes()
        assert hostname(m, "candidate") == "direct"


def expect_error(fn, tag):
    with pytest.raises(RPCError) as e:
        fn()
    assert e.value.tag == tag, (e.value.tag, e.value.message)
    return e.value


def test_edit_operations_and_errors(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=user_cfg("ops", "create"))
        expect_error(lambda: m.edit_config(target="running", config=user_cfg("ops", "create")), "data-exists")
        m.edit_config(target="running", config=user_cfg("ops", "delete"))
        expect_error(lambda: m.edit_config(target="running", config=user_cfg("ops", "delete")), "data-missing")
        m.edit_config(target="running", config=user_cfg("ops", "remove"))  # absent: no error
        err = expect_error(lambda: m.edit_config(
            target="running", config=f'<config><system xmlns="{SYS}"><no-such-leaf>1</no-such-leaf></system></config>'),
            "unknown-element")
        assert err.type == "application"
        # A value that breaks the type: the hostname pattern/length.
        expect_error(lambda: m.edit_config(target="running", config=hostname_cfg("x" * 300)), "invalid-value")
        # Nothing of a failed edit is left behind.
        assert hostname(m) == "lifeline"


def test_replace_and_default_operation_none(daemon):
    with daemon.connect() as m:
        m.edit_config(target="candidate", config=user_cfg("alice"))
        m.edit_config(target="candidate", config=user_cfg("bob"))
        m.commit()
        # replace at the user list entry replaces only that entry
        m.edit_config(target="candidate", config=user_cfg("alice", "replace", "$0$new"))
        # default-operation none: unmarked nodes are untouched, marked ones applied
        m.edit_config(target="candidate", default_operation="none",
                      config=f'<config><system xmlns="{SYS}"><hostname>ignored</hostname>'
                             f'<authentication><user xmlns:nc="{NC}" nc:operation="delete"><name>bob</name></user>'
                             f'</authentication></system></config>')
        m.commit()
        data = m.get_config(source="running").data_xml
        assert "$0$new" in data and "<name>bob</name>" not in data
        assert hostname(m) == "lifeline"


def test_rollback_on_error_changes_nothing(daemon):
    with daemon.connect() as m:
        cfg = (f'<config><system xmlns="{SYS}"><hostname>half</hostname><authentication>'
               f'<user xmlns:nc="{NC}" nc:operation="delete"><name>nobody</name></user>'
               f'</authentication></system></config>')
        expect_error(lambda: m.edit_config(target="running", config=cfg, error_option="rollback-on-error"),
                     "data-missing")
        assert hostname(m) == "lifeline"


def test_test_only_validates_without_applying(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=hostname_cfg("tested"), test_option="test-only")
        assert hostname(m) == "lifeline"


def test_locks_between_sessions(daemon):
    with daemon.connect() as a, daemon.connect() as b:
        a.lock("candidate")
        err = expect_error(lambda: b.lock("candidate"), "lock-denied")
        info = err.info or ""
        assert str(a.session_id) in info
        expect_error(lambda: b.edit_config(target="candidate", config=hostname_cfg("b")), "in-use")
        a.edit_config(target="candidate", config=hostname_cfg("by-a"))
        a.commit()
        a.unlock("candidate")
        b.lock("candidate")
        b.unlock("candidate")
        a.lock("running")
    # a's session is gone: its lock went with it
    with daemon.connect() as c:
        c.lock("running")
        c.unlock("running")


def test_lock_released_when_session_dies(daemon):
    a = daemon.connect()
    a.lock("running")
    a._session._transport.close()  # abrupt disconnect, no close-session
    time.sleep(0.5)
    with daemon.connect() as b:
        for _ in range(50):
            try:
                b.lock("running")
                break
            except RPCError:
                time.sleep(0.1)
        else:
            pytest.fail("lock of a dead session was never released")


def test_confirmed_commit_expires_and_rolls_back(daemon):
    with daemon.connect() as m:
        m.edit_config(target="candidate", config=hostname_cfg("trial"))
        m.commit(confirmed=True, timeout="2")
        assert hostname(m) == "trial"
        time.sleep(3.5)
        assert hostname(m) == "lifeline"


def test_confirmed_commit_confirmed(daemon):
    with daemon.connect() as m:
        m.edit_config(target="candidate", config=hostname_cfg("kept"))
        m.commit(confirmed=True, timeout="2")
        m.commit()
        time.sleep(3)
        assert hostname(m) == "kept"


def test_confirmed_commit_persist_across_sessions_and_extend(daemon):
    with daemon.connect() as a:
        a.edit_config(target="candidate", config=hostname_cfg("persisted"))
        a.commit(confirmed=True, timeout="3", persist="tok1")
    # the session is gone, but with persist the commit waits
    with daemon.connect() as b:
        assert hostname(b) == "persisted"
        expect_error(lambda: b.commit(persist_id="wrong"), "invalid-value")
        # extend the window from another session; the original rollback point stays
        b.edit_config(target="candidate", config=hostname_cfg("persisted2"))
        b.commit(confirmed=True, timeout="3", persist_id="tok1")
        time.sleep(1.5)
        assert hostname(b) == "persisted2"
        b.cancel_commit(persist_id="tok1")
        assert hostname(b) == "lifeline"


def test_confirmed_commit_cancelled_when_session_ends(daemon):
    with daemon.connect() as a:
        a.edit_config(target="candidate", config=hostname_cfg("ephemeral"))
        a.commit(confirmed=True, timeout="60")
        assert hostname(a) == "ephemeral"
    time.sleep(0.5)
    with daemon.connect() as b:
        assert hostname(b) == "lifeline"


def test_restart_inside_confirmed_window_rolls_back(daemon):
    with daemon.connect() as m:
        m.edit_config(target="candidate", config=hostname_cfg("before"))
        m.commit()
        m.edit_config(target="candidate", config=hostname_cfg("unconfirmed"))
        m.commit(confirmed=True, timeout="600", persist="p")
        assert hostname(m) == "unconfirmed"
    daemon.kill9()
    daemon.start()
    with daemon.connect() as m:
        assert hostname(m) == "before"


def test_with_defaults_modes(daemon):
    with daemon.connect() as m:
        flt = ("subtree", '<management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"/>')
        explicit = m.get_config(source="running", filter=flt).data_xml
        full = m.get_config(source="running", filter=flt, with_defaults="report-all").data_xml
        assert "max-sessions" not in explicit
        assert "max-sessions" in full
        tagged = m.get_config(source="running", filter=flt, with_defaults="report-all-tagged").data_xml
        assert 'default="true"' in tagged


def test_xpath_filter(daemon):
    with daemon.connect() as m:
        rpc = to_ele(f'<get-config xmlns="{NC}"><source><running/></source>'
                     f'<filter type="xpath" xmlns:s="{SYS}" select="/s:system/s:hostname"/></get-config>')
        reply = m.dispatch(rpc)
        assert "<hostname>lifeline</hostname>" in reply.xml.replace("sys:", "")
        assert "authentication" not in reply.xml
        bad = to_ele(f'<get-config xmlns="{NC}"><source><running/></source>'
                     f'<filter type="xpath" select="/nope:system"/></get-config>')
        expect_error(lambda: m.dispatch(bad), "invalid-value")


def test_subtree_filter_content_match(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=user_cfg("carol"))
        flt = ("subtree", f'<system xmlns="{SYS}"><authentication><user><name>carol</name></user></authentication></system>')
        data = m.get_config(source="running", filter=flt).data_xml
        assert "carol" in data and "<name>admin</name>" not in data


def test_get_has_state_and_monitoring(daemon):
    with daemon.connect() as m:
        mon = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
        reply = m.get(filter=("subtree", f'<netconf-state xmlns="{mon}"><sessions/></netconf-state>'))
        assert str(m.session_id) in reply.data_xml
        assert "<username>admin</username>" in reply.data_xml


def test_get_schema(daemon):
    with daemon.connect() as m:
        reply = m.get_schema("ietf-system")
        assert "module ietf-system" in reply.data
        expect_error(lambda: m.get_schema("no-such-module"), "invalid-value")


def test_kill_session(daemon):
    a = daemon.connect()
    with daemon.connect() as b:
        a.lock("running")
        b.kill_session(a.session_id)
        time.sleep(0.3)
        b.lock("running")
        expect_error(lambda: b.kill_session(b.session_id), "invalid-value")
        expect_error(lambda: b.kill_session("99999"), "invalid-value")
    assert not a.connected


def test_copy_and_delete_startup_and_validate(daemon):
    with daemon.connect() as m:
        m.copy_config(source="running", target="startup")
        m.validate(source="candidate")
        m.validate(source=to_ele(f'<config xmlns="{NC}"><system xmlns="{SYS}"><hostname>ok</hostname></system></config>'))
        m.delete_config(target="startup")
        expect_error(lambda: m.delete_config(target="running"), "operation-failed")


def test_unknown_operation(daemon):
    with daemon.connect() as m:
        expect_error(lambda: m.dispatch(to_ele('<frobnicate xmlns="urn:example:none"/>')), "unknown-namespace")
        expect_error(lambda: m.dispatch(to_ele(f'<frobnicate xmlns="{NC}"/>')), "operation-not-supported")


def test_interfaces_state_from_the_host(daemon):
    with daemon.connect() as m:
        ifs = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
        data = m.get(filter=("subtree", f'<interfaces-state xmlns="{ifs}"/>')).data_xml
        assert "<name>lo</name>" in data
        assert "softwareLoopback" in data and "<in-octets>" in data


def test_model_action_without_service_is_reported(daemon):
    with daemon.connect() as m:
        # An RPC of our model that no service implements yet gets a clear error.
        rpc = to_ele('<rollback xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><id>999</id></rollback>')
        expect_error(lambda: m.dispatch(rpc), "invalid-value")


def test_rollback_to_a_history_entry(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=hostname_cfg("first"))
        m.edit_config(target="running", config=hostname_cfg("second"))
        hist = m.get(filter=("subtree", '<commit-history xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"/>')).data_xml
        import re
        ids = [int(i) for i in re.findall(r"<id>(\d+)</id>", hist)]
        assert len(ids) >= 2
        first = ids[-2]
        m.dispatch(to_ele(f'<rollback xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><id>{first}</id>'
                          f'<comment>back</comment></rollback>'))
        assert hostname(m) == "first"
        hist = m.get(filter=("subtree", '<commit-history xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"/>')).data_xml
        assert f"rollback to {first}: back" in hist


def test_yang_library_state(daemon):
    with daemon.connect() as m:
        yl = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
        data = m.get(filter=("subtree", f'<yang-library xmlns="{yl}"/>')).data_xml
        assert "<name>lifeline-ports</name>" in data and "<name>ietf-system</name>" in data
        assert "<feature>candidate</feature>" in data


def test_copy_config_inline_to_candidate_and_running(daemon):
    with daemon.connect() as m:
        full = m.get_config(source="running").data_ele
        # Replace the whole candidate by inline config (same as running, new hostname).
        xml = m.get_config(source="running").data_xml
        xml = xml.replace("<hostname>lifeline</hostname>", "<hostname>copied</hostname>")
        xml = xml.replace('<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"', '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"')
        xml = xml.replace("</data>", "</config>").split("?>", 1)[-1]
        m.dispatch(to_ele(f'<copy-config xmlns="{NC}"><target><candidate/></target><source>{xml}</source></copy-config>'))
        assert hostname(m, "candidate") == "copied"
        m.commit()
        assert hostname(m) == "copied"
        m.copy_config(source="running", target="candidate")
        assert full is not None


def test_continue_on_error_applies_the_good_parts(daemon):
    with daemon.connect() as m:
        cfg = (f'<config><system xmlns="{SYS}"><hostname>partial</hostname><authentication>'
               f'<user xmlns:nc="{NC}" nc:operation="delete"><name>nobody</name></user>'
               f'</authentication></system></config>')
        expect_error(lambda: m.edit_config(target="candidate", config=cfg, error_option="continue-on-error"),
                     "data-missing")
        assert hostname(m, "candidate") == "partial"
        m.discard_changes()


AR = "urn:lifeline:params:xml:ns:yang:lifeline-auto-response"
YANG1 = "urn:ietf:params:xml:ns:yang:1"


def script_args(m):
    import re
    data = m.get_config(source="running", filter=("subtree", f'<auto-response xmlns="{AR}"/>')).data_xml
    return re.findall(r"<argument>([^<]*)</argument>", data)


def rule_cfg(args_xml):
    return (f'<config><auto-response xmlns="{AR}"><rule><name>r1</name><run-as>admin</run-as><trigger>'
            f'<event xmlns:llt="urn:lifeline:params:xml:ns:yang:lifeline-types">llt:uplink-down</event></trigger>'
            f'<action><name>a1</name><script><path>/bin/true</path>{args_xml}</script></action>'
            f'</rule></auto-response></config>')


def test_insert_into_ordered_by_user_leaf_list(daemon):
    with daemon.connect() as m:
        m.edit_config(target="running", config=rule_cfg("<argument>a</argument><argument>c</argument>"))
        assert script_args(m) == ["a", "c"]
        m.edit_config(target="running", config=rule_cfg(
            f'<argument xmlns:yang="{YANG1}" yang:insert="after" yang:value="a">b</argument>'))
        assert script_args(m) == ["a", "b", "c"]
        m.edit_config(target="running", config=rule_cfg(
            f'<argument xmlns:yang="{YANG1}" yang:insert="first">z</argument>'))
        assert script_args(m) == ["z", "a", "b", "c"]
        expect_error(lambda: m.edit_config(target="running", config=rule_cfg(
            f'<argument xmlns:yang="{YANG1}" yang:insert="before" yang:value="nope">y</argument>')), "data-missing")


def test_candidate_reports_defaults_after_edits(daemon):
    with daemon.connect() as m:
        m.edit_config(target="candidate", config=(
            '<config><management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><cli>'
            '<endpoint><name>extra</name><address>127.0.0.1</address></endpoint></cli></management></config>'))
        flt = ("subtree", '<management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><cli/></management>')
        full = m.get_config(source="candidate", filter=flt, with_defaults="report-all").data_xml
        assert "<port>22</port>" in full and "<max-sessions>32</max-sessions>" in full
        m.discard_changes()
