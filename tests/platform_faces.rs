//! A YANG module and a service the faces have never heard of (the test module
//! of `common`) appear in every face with no code in any of them: NETCONF
//! through ncclient (configuration, state, the action), the CLI through
//! OpenSSH (show, request), and the module's event as an SNMP trap that
//! net-snmp's snmptrapd receives.
mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline::appliance::{Appliance, Options};

fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

fn venv_python() -> String {
    let venv = std::env::var("LIFELINE_VENV").unwrap_or_else(|_| "/opt/lifeline-venv".into());
    format!("{venv}/bin/python")
}

fn factory(netconf: u16, cli: u16, snmp: u16, trap: u16) -> String {
    format!(
        r#"<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><hostname>faces</hostname>
    <authentication><user><name>admin</name><password>$0$admin</password></user></authentication></system>
  <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
    <groups><group><name>admin</name><user-name>admin</user-name></group></groups>
    <rule-list><name>admin</name><group>admin</group>
      <rule><name>all</name><module-name>*</module-name><access-operations>*</access-operations><action>permit</action></rule></rule-list>
  </nacm>
  <management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system">
    <netconf><endpoint><name>lo</name><address>127.0.0.1</address><port>{netconf}</port></endpoint></netconf>
    <cli><endpoint><name>lo</name><address>127.0.0.1</address><port>{cli}</port></endpoint></cli></management>
  <snmp xmlns="urn:ietf:params:xml:ns:yang:ietf-snmp">
    <engine><enabled>true</enabled><listen><name>lo</name><udp><ip>127.0.0.1</ip><port>{snmp}</port></udp></listen>
      <version><v2c/></version></engine>
    <community><index>public</index><text-name>public</text-name><security-name>public</security-name></community>
    <vacm><group><name>g</name><member><security-name>public</security-name><security-model>v2c</security-model></member>
      <access><context></context><security-model>any</security-model><security-level>no-auth-no-priv</security-level>
        <read-view>all</read-view><notify-view>all</notify-view></access></group>
      <view><name>all</name><include>1</include></view></vacm>
    <target><name>trapd</name><udp><ip>127.0.0.1</ip><port>{trap}</port></udp><tag>t</tag><target-params>p</target-params></target>
    <target-params><name>p</name><v2c><security-name>public</security-name></v2c></target-params>
    <notify><name>n</name><tag>t</tag><type>trap</type></notify>
  </snmp>
</config>"#
    )
}

/// What ncclient does: create a widget, read its state back filtered to it,
/// run its action, read the state again.
const NCCLIENT: &str = r#"
import sys
from ncclient import manager
from ncclient.xml_ import to_ele
NS = "urn:lifeline:params:xml:ns:yang:lifeline-test"
with manager.connect(host="127.0.0.1", port=int(sys.argv[1]), username="admin", password="admin",
                     hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=30) as m:
    m.edit_config(target="running", config=f'<config><widgets xmlns="{NS}"><widget><name>w00002</name><size>large</size></widget></widgets></config>')
    r = m.get(filter=("subtree", f'<widgets xmlns="{NS}"><widget><name>w00002</name></widget></widgets>')).data_xml
    assert "<pokes>0</pokes>" in r and "<size>large</size>" in r, r
    reply = m.dispatch(to_ele(f'<action xmlns="urn:ietf:params:xml:ns:yang:1"><widgets xmlns="{NS}"><widget><name>w00002</name><poke><times>3</times></poke></widget></widgets></action>'))
    assert ">3</total>" in reply.xml and "<total" in reply.xml, reply.xml
    r = m.get(filter=("subtree", f'<widgets xmlns="{NS}"/>')).data_xml
    assert "<pokes>3</pokes>" in r, r
print("ncclient ok")
"#;

fn ssh(port: u16, command: &str) -> (bool, String) {
    let out = Command::new("sshpass")
        .args(["-p", "admin", "ssh", "-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "LogLevel=ERROR",
            "admin@127.0.0.1",
            command,
        ])
        .output()
        .expect("sshpass and OpenSSH (scripts/setup.sh installs them)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_module_and_service_appear_in_netconf_the_cli_and_snmp_traps() {
    let dir = std::env::temp_dir().join(format!("lifeline-faces-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (netconf, cli, snmp, trap) = (
        free_port(false),
        free_port(false),
        free_port(true),
        free_port(true),
    );
    // snmptrapd, logging every trap with numeric OIDs.
    let conf = dir.join("snmptrapd.conf");
    std::fs::write(&conf, "authCommunity log public\n").unwrap();
    let log = dir.join("traps.log");
    let mut trapd = Command::new("snmptrapd")
        .args(["-f", "-C", "-c"])
        .arg(&conf)
        .arg("-Lf")
        .arg(&log)
        .args(["-On", "-n", &format!("udp:127.0.0.1:{trap}")])
        .env("MIBS", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("snmptrapd (scripts/setup.sh installs it)");
    let probe = Arc::new(common::Probe::default());
    let app = Appliance::start(Options {
        state_dir: dir.join("state"),
        factory: factory(netconf, cli, snmp, trap),
        extra_yang: vec![("lifeline-test".into(), common::MODULE.into())],
        plugins: vec![common::plugin(probe.clone(), 3)],
        opener: Arc::new(lifeline::ports::serial::TtyOpener),
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // NETCONF, with a real client.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(venv_python())
            .args(["-c", NCCLIENT, &netconf.to_string()])
            .output()
            .expect("the test venv (scripts/setup.sh makes it)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "ncclient: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The CLI, through OpenSSH: the schema's paths and the action.
    let (ok, text) = tokio::task::spawn_blocking(move || ssh(cli, "show widgets widget w00002"))
        .await
        .unwrap();
    assert!(
        ok && text.contains("pokes 3") && text.contains("size large"),
        "{text}"
    );
    let (ok, text) =
        tokio::task::spawn_blocking(move || ssh(cli, "request widgets widget w00002 poke times 2"))
            .await
            .unwrap();
    assert!(ok && text.contains("total 5"), "{text}");

    // The module's event reached snmptrapd as llNotifyOther, with its fields.
    let deadline = Instant::now() + Duration::from_secs(10);
    let traps = loop {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        if t.contains("lifeline-test:widget-poked") || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = trapd.kill();
    let _ = trapd.wait();
    assert!(
        traps.contains(".1.3.6.1.4.1.8072.9999.9999.5433.0.100"),
        "no llNotifyOther: {traps}"
    );
    assert!(
        traps.contains("widget=w00002") && traps.contains("total=5"),
        "the event's fields are not in the trap: {traps}"
    );
    app.shutdown(Duration::from_millis(500)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
