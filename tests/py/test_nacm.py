"""NACM (RFC 8341) as an operator meets it: the read-only group reads but cannot
write or run operations; denied data is invisible; admins keep full access."""
import pytest
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele

SYS = "urn:ietf:params:xml:ns:yang:ietf-system"
NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"


def add_viewer(m, group="operator"):
    m.edit_config(target="running", config=(
        f'<config><system xmlns="{SYS}"><authentication><user><name>viewer</name>'
        f'<password>$0$viewer</password></user></authentication></system>'
        f'<nacm xmlns="{NACM}"><groups><group><name>{group}</name><user-name>viewer</user-name></group></groups></nacm>'
        f'</config>'))


def denied(fn):
    with pytest.raises(RPCError) as e:
        fn()
    assert e.value.tag == "access-denied", (e.value.tag, e.value.message)


def test_operator_reads_but_cannot_write_or_lock(daemon):
    with daemon.connect() as admin:
        add_viewer(admin)
    with daemon.connect(user="viewer", password="viewer") as v:
        data = v.get_config(source="running").data_xml
        assert "<hostname>lifeline</hostname>" in data
        v.get(filter=("subtree", f'<system xmlns="{SYS}"><hostname/></system>'))
        denied(lambda: v.edit_config(target="running",
                                     config=f'<config><system xmlns="{SYS}"><hostname>x</hostname></system></config>'))
        denied(lambda: v.edit_config(target="candidate",
                                     config=f'<config><system xmlns="{SYS}"><hostname>x</hostname></system></config>'))
        denied(lambda: v.lock("running"))
        denied(lambda: v.kill_session("1"))
        denied(lambda: v.dispatch(to_ele(
            '<rollback xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><id>1</id></rollback>')))
    with daemon.connect() as admin:
        admin.lock("running")
        admin.unlock("running")
        state = admin.get(filter=("subtree", f'<nacm xmlns="{NACM}"/>')).data_xml
        import re
        ops = int(re.search(r"<denied-operations>(\d+)<", state).group(1))
        writes = int(re.search(r"<denied-data-writes>(\d+)<", state).group(1))
        # edit-config, lock, kill-session and rollback were refused as operations
        assert ops >= 5 and writes == 0, state


def test_denied_data_is_invisible(daemon):
    with daemon.connect() as admin:
        add_viewer(admin, group="restricted")
        admin.edit_config(target="running", config=(
            f'<config><nacm xmlns="{NACM}"><rule-list><name>restricted</name><group>restricted</group>'
            f'<rule><name>hide-users</name><module-name>ietf-system</module-name>'
            f'<path xmlns:sys="{SYS}">/sys:system/sys:authentication</path>'
            f'<access-operations>read</access-operations><action>deny</action></rule>'
            f'<rule><name>read-rest</name><module-name>*</module-name><access-operations>read</access-operations>'
            f'<action>permit</action></rule>'
            f'<rule><name>get</name><module-name>ietf-netconf</module-name><rpc-name>get-config</rpc-name>'
            f'<access-operations>exec</access-operations><action>permit</action></rule>'
            f'</rule-list></nacm></config>'))
    with daemon.connect(user="viewer", password="viewer") as v:
        data = v.get_config(source="running").data_xml
        assert "<hostname>lifeline</hostname>" in data
        assert "<authentication>" not in data and "$0$viewer" not in data


def test_user_in_no_group_gets_nothing_it_may_not(daemon):
    with daemon.connect() as admin:
        admin.edit_config(target="running", config=(
            f'<config><system xmlns="{SYS}"><authentication><user><name>nobody</name>'
            f'<password>$0$nobody</password></user></authentication></system></config>'))
    with daemon.connect(user="nobody", password="nobody") as n:
        denied(lambda: n.edit_config(target="running",
                                     config=f'<config><system xmlns="{SYS}"><hostname>x</hostname></system></config>'))


def test_wrong_password_is_refused(daemon):
    from ncclient.transport.errors import AuthenticationError
    with pytest.raises(AuthenticationError):
        daemon.connect(password="wrong")
