"""RFC 5277 notifications: live, replayed, and the RFC 6470 base events."""
import time
from datetime import datetime, timedelta, timezone

SYS = "urn:ietf:params:xml:ns:yang:ietf-system"


def commit_hostname(m, name):
    m.edit_config(target="candidate",
                  config=f'<config><system xmlns="{SYS}"><hostname>{name}</hostname></system></config>')
    m.commit()


def collect(m, want, timeout=10):
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = m.take_notification(timeout=1)
        if n is None:
            continue
        got.append(n.notification_xml)
        if all(any(w in g for g in got) for w in want):
            break
    return got


def test_config_change_notification_reaches_subscriber(daemon):
    with daemon.connect() as listener, daemon.connect() as writer:
        listener.create_subscription()
        commit_hostname(writer, "notified")
        got = collect(listener, ["netconf-config-change", "notified"] and ["netconf-config-change"])
        change = [g for g in got if "netconf-config-change" in g]
        assert change, got
        assert "hostname" in change[0]
        assert f"<session-id>{writer.session_id}</session-id>" in change[0]


def test_replay_from_start_time(daemon):
    with daemon.connect() as m:
        commit_hostname(m, "before-subscribe")
    start = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    with daemon.connect() as m:
        m.create_subscription(start_time=start)
        got = collect(m, ["netconf-config-change", "replayComplete"])
        assert any("replayComplete" in g for g in got), got
        assert any("netconf-session-start" in g for g in got), got


def test_interleave_rpcs_while_subscribed(daemon):
    with daemon.connect() as m:
        m.create_subscription()
        commit_hostname(m, "interleaved")
        got = collect(m, ["netconf-config-change"])
        assert any("netconf-config-change" in g for g in got)


NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"


def test_subtree_filter_on_notification_content(daemon):
    match = f'<netconf-config-change xmlns="{NCN}"><changed-by><username>admin</username></changed-by></netconf-config-change>'
    other = f'<netconf-config-change xmlns="{NCN}"><changed-by><username>nobody</username></changed-by></netconf-config-change>'
    with daemon.connect() as yes, daemon.connect() as no, daemon.connect() as writer:
        yes.create_subscription(filter=("subtree", match))
        no.create_subscription(filter=("subtree", other))
        commit_hostname(writer, "filtered")
        got = collect(yes, ["netconf-config-change"])
        assert any("netconf-config-change" in g for g in got), got
        # only config changes: the session-start of the writer was filtered out
        assert not any("netconf-session-start" in g for g in got)
        n = no.take_notification(timeout=2)
        assert n is None, n.notification_xml
