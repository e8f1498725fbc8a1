//! The service platform, proven with a test-only YANG module and service: typed
//! configuration with YANG's defaults, a refusal that changes nothing anywhere,
//! a value that does not convert refusing the commit with its path, lazy paged
//! state asked only for what a read selects, typed actions under NACM, and
//! typed events rendered as the module's notification.
mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{MODULE, NS, Poked, Probe, Size, plugin};
use lifeline::appliance::{Appliance, Options};
use lifeline::datastore::edit::Operation;
use lifeline::datastore::{
    ActionCall, Datastore, ErrorOption, ErrorTag, Face, Filter, Handle, Session, TestOption,
    WithDefaults,
};
use lifeline::events::Payload;
use lifeline::service::{DataPath, StateQuery};
use serde::Deserialize;

const SYS: &str = "urn:ietf:params:xml:ns:yang:ietf-system";

fn factory() -> String {
    format!(
        r#"<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <system xmlns="{SYS}"><hostname>svc-test</hostname>
    <authentication>
      <user><name>admin</name><password>$0$admin</password></user>
      <user><name>operator</name><password>$0$operator</password></user>
    </authentication></system>
  <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
    <enable-nacm>true</enable-nacm><exec-default>deny</exec-default>
    <groups><group><name>admin</name><user-name>admin</user-name></group>
      <group><name>operator</name><user-name>operator</user-name></group></groups>
    <rule-list><name>admin</name><group>admin</group>
      <rule><name>all</name><module-name>*</module-name><access-operations>*</access-operations><action>permit</action></rule></rule-list>
  </nacm>
  <management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system">
    <netconf><enabled>false</enabled></netconf><cli><enabled>false</enabled></cli></management>
  <widgets xmlns="{NS}"><widget><name>w00001</name><size>large</size></widget></widgets>
</config>"#
    )
}

async fn start(probe: Arc<Probe>, rows: usize) -> (Appliance, std::path::PathBuf) {
    let dir = tempdir();
    let app = Appliance::start(Options {
        state_dir: dir.clone(),
        factory: factory(),
        extra_yang: vec![("lifeline-test".into(), MODULE.into())],
        plugins: vec![plugin(probe, rows)],
        opener: Arc::new(lifeline::ports::serial::TtyOpener),
    })
    .await
    .unwrap();
    (app, dir)
}

async fn merge(ds: &Handle, s: &Session, xml: &str) -> Result<(), Vec<lifeline::datastore::Error>> {
    ds.edit_config(
        s,
        Datastore::Running,
        Operation::Merge,
        TestOption::TestThenSet,
        ErrorOption::RollbackOnError,
        xml.to_string(),
    )
    .await
}

fn user(ds: &Handle, name: &str, face: Face) -> Session {
    ds.new_session(name, face, Some("127.0.0.1".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_config_comes_with_yang_defaults_and_refusals_change_nothing() {
    let probe = Arc::new(Probe::default());
    let (app, dir) = start(probe.clone(), 0).await;
    let ds = app.ds.clone();
    // The boot configuration arrived typed, with YANG's defaults.
    {
        let applied = probe.applied.lock();
        let w = &applied.last().unwrap()[0];
        assert_eq!((w.size.clone(), w.limit), (Size::Large, 10));
    }
    let admin = user(&ds, "admin", Face::Netconf);
    let edit = format!(
        r#"<widgets xmlns="{NS}"><widget><name>w2</name></widget></widgets>
        <system xmlns="{SYS}"><location>rack 7</location></system>"#
    );
    probe.refuse.store(true, Ordering::SeqCst);
    let errs = merge(&ds, &admin, &edit).await.unwrap_err();
    assert!(errs[0].message.contains("refused for the test"), "{errs:?}");
    for dsn in [Datastore::Running, Datastore::Candidate, Datastore::Startup] {
        let xml = ds
            .get_config(&admin, dsn, Filter::All, WithDefaults::Explicit)
            .await
            .unwrap();
        assert!(
            !xml.contains("w2") && !xml.contains("rack 7"),
            "{dsn:?} changed: {xml}"
        );
    }
    assert!(
        !std::fs::read_to_string(dir.join("startup.xml"))
            .unwrap()
            .contains("rack 7")
    );
    probe.refuse.store(false, Ordering::SeqCst);

    // A value the service's type cannot hold refuses the commit, naming it.
    let before = std::fs::read_to_string(dir.join("startup.xml")).unwrap();
    let bad = format!(
        r#"<widgets xmlns="{NS}"><widget><name>w3</name><limit>300</limit></widget></widgets>"#
    );
    let errs = merge(&ds, &admin, &bad).await.unwrap_err();
    assert_eq!(errs[0].tag, ErrorTag::InvalidValue, "{errs:?}");
    assert_eq!(
        errs[0].path.as_deref(),
        Some("/lifeline-test:widgets/widget[name='w3']/limit"),
        "{errs:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("startup.xml")).unwrap(),
        before
    );

    // Accepted: the service sees exactly its changes, deletes first.
    probe.changes.lock().clear();
    merge(&ds, &admin, &edit).await.unwrap();
    assert_eq!(
        *probe.changes.lock(),
        vec!["/lifeline-test:widgets/widget[name='w2']".to_string()]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_read_lazily_and_only_what_the_filter_selects() {
    let probe = Arc::new(Probe::default());
    let (app, dir) = start(probe.clone(), 10_000).await;
    let ds = app.ds.clone();
    let admin = user(&ds, "admin", Face::Netconf);
    // A page resumes after the keys it is given and walks no further.
    let q = StateQuery {
        root: "/lifeline-test:widgets/widget".into(),
        select: lifeline::service::state::Select::All,
        after: Some(vec!["w05000".into()]),
        limit: 2,
    };
    let provider = ds.registry().provider(&q.root).unwrap();
    probe.visited.store(0, Ordering::SeqCst);
    let page = provider.read(&q);
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.entries[0]["name"], "w05001");
    assert_eq!(page.next, Some(vec!["w05002".to_string()]));
    // A get of one widget asks the provider for that widget only.
    probe.visited.store(0, Ordering::SeqCst);
    let xml = ds
        .get(
            &admin,
            Filter::Path("/lifeline-test:widgets/widget[name='w00001']".into()),
            WithDefaults::Explicit,
        )
        .await
        .unwrap();
    assert!(
        xml.contains("<pokes>0</pokes>") && xml.contains("<size>large</size>"),
        "{xml}"
    );
    assert_eq!(probe.visited.load(Ordering::SeqCst), 1);
    // A get of something else does not ask it at all.
    probe.visited.store(0, Ordering::SeqCst);
    ds.get(
        &admin,
        Filter::Path("/ietf-system:system".into()),
        WithDefaults::Explicit,
    )
    .await
    .unwrap();
    assert_eq!(probe.visited.load(Ordering::SeqCst), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_typed_checked_by_nacm_and_raise_typed_events() {
    let probe = Arc::new(Probe::default());
    let (app, dir) = start(probe.clone(), 10).await;
    let ds = app.ds.clone();
    let mut events = ds.events.subscribe();
    let path = DataPath::root("lifeline-test:widgets")
        .entry("widget", &[("name", "w00001")])
        .child("poke");
    #[derive(Deserialize)]
    struct Out {
        total: String,
    }
    // The automation principal acting as admin: allowed; input defaults apply.
    let admin = user(&ds, "admin", Face::Automation);
    let out: Out = ds
        .invoke(&admin, path.clone(), &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(out.total, "1");
    let out: Out = ds
        .invoke(&admin, path.clone(), &serde_json::json!({"times": 4}))
        .await
        .unwrap();
    assert_eq!(out.total, "5");
    // The same call as a user NACM denies.
    let operator = user(&ds, "operator", Face::Automation);
    let e = ds
        .invoke::<_, Out>(&operator, path.clone(), &serde_json::json!({}))
        .await
        .err()
        .unwrap();
    assert_eq!(e.tag, ErrorTag::AccessDenied, "{e:?}");
    // Input the schema refuses never reaches the service.
    let e = ds
        .action(
            &admin,
            ActionCall::Json(path.clone(), serde_json::json!({"times": 999})),
        )
        .await
        .err()
        .unwrap();
    assert_eq!(e.tag, ErrorTag::InvalidValue, "{e:?}");
    assert_eq!(probe.pokes.lock()["w00001"], 5);
    // The appliance itself runs no actions.
    let e = ds
        .invoke::<_, Out>(&Session::system(), path, &serde_json::json!({}))
        .await
        .err()
        .unwrap();
    assert_eq!(e.tag, ErrorTag::AccessDenied);
    // The events were typed: the notification has their fields and header.
    let first = loop {
        let e = events.recv().await.unwrap();
        if e.notification == Poked::NOTIFICATION {
            break e;
        }
    };
    assert_eq!(first.text("total").as_deref(), Some("1"));
    let n = lifeline::northbound::netconf::notify::render(ds.ctx, &first).unwrap();
    assert!(
        n.xml.contains("<widget>w00001</widget>")
            && n.xml.contains("<severity>notice</severity>")
            && n.xml.contains(NS),
        "{}",
        n.xml
    );
    let trap = lifeline::northbound::snmp::notify::Notification::event(&first);
    assert!(trap.trap_oid.to_string().ends_with(".5433.0.100"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    use std::time::{SystemTime, UNIX_EPOCH};
    let d = std::env::temp_dir().join(format!(
        "lifeline-svc-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
