//! The service API, proven with test-only services: a refused prepare leaves every
//! datastore and every other service unchanged, and a resumable state read returns
//! the entries after given keys without walking the whole table.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lifeline::appliance::{Appliance, Options};
use lifeline::datastore::edit::Operation;
use lifeline::datastore::{Datastore, ErrorOption, Filter, Session, TestOption, WithDefaults};
use lifeline::service::{CommitView, Prepared, Refusal, Service, StateEntries, StateQuery};

const SYS: &str = "urn:ietf:params:xml:ns:yang:ietf-system";

struct Recorder {
    name: &'static str,
    prefix: &'static str,
    refuse: Arc<AtomicBool>,
    applied: Arc<Mutex<Vec<String>>>,
    table: BTreeMap<String, u64>,
    visited: Arc<AtomicUsize>,
}

struct Apply(Vec<String>, Arc<Mutex<Vec<String>>>);

impl Prepared for Apply {
    fn apply(self: Box<Self>) {
        self.1.lock().unwrap().extend(self.0);
    }
}

impl Service for Recorder {
    fn name(&self) -> &str {
        self.name
    }
    fn prefixes(&self) -> Vec<String> {
        vec![self.prefix.into()]
    }
    fn prepare(&mut self, view: &CommitView<'_>) -> Result<Box<dyn Prepared>, Refusal> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(Refusal {
                message: "refused for the test".into(),
                path: None,
            });
        }
        let paths = view.changes.iter().map(|c| c.path.clone()).collect();
        Ok(Box::new(Apply(paths, self.applied.clone())))
    }
    fn state_roots(&self) -> Vec<String> {
        vec!["/test:table".into()]
    }
    fn state(&self, q: &StateQuery) -> StateEntries {
        use std::ops::Bound;
        let start = match &q.after {
            Some(keys) => Bound::Excluded(keys[0].clone()),
            None => Bound::Unbounded,
        };
        self.table
            .range((start, Bound::Unbounded))
            .take(q.limit.unwrap_or(usize::MAX))
            .inspect(|_| {
                self.visited.fetch_add(1, Ordering::SeqCst);
            })
            .map(|(k, v)| {
                (
                    format!("/test:table/row[key='{k}']/value"),
                    Some(v.to_string()),
                )
            })
            .collect()
    }
}

fn factory() -> String {
    format!(
        r#"<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <system xmlns="{SYS}"><hostname>svc-test</hostname></system>
  <management xmlns="urn:lifeline:params:xml:ns:yang:lifeline-system"><netconf><enabled>false</enabled></netconf></management>
</config>"#
    )
}

fn recorder(name: &'static str, prefix: &'static str) -> Recorder {
    Recorder {
        name,
        prefix,
        refuse: Arc::default(),
        applied: Arc::default(),
        table: (0..10_000)
            .map(|i| (format!("k{i:05}"), i as u64))
            .collect(),
        visited: Arc::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_prepare_changes_nothing_anywhere() {
    let dir = tempdir();
    let contact = recorder("contact", "/ietf-system:system/contact");
    let location = recorder("location", "/ietf-system:system/location");
    let contact_applied = contact.applied.clone();
    let (refuse_location, location_applied) = (location.refuse.clone(), location.applied.clone());
    let app = Appliance::start(Options {
        state_dir: dir.clone(),
        factory: factory(),
        extra_yang: Vec::new(),
        extra_services: vec![Box::new(contact), Box::new(location)],
        opener: std::sync::Arc::new(lifeline::ports::serial::TtyOpener),
    })
    .await
    .unwrap();
    let ds = app.ds.clone();
    // The boot configuration reached both services; start counting from here.
    contact_applied.lock().unwrap().clear();
    location_applied.lock().unwrap().clear();
    let s = Session::system();
    let edit = format!(
        r#"<system xmlns="{SYS}"><contact>noc@example.net</contact><location>rack 7</location></system>"#
    );

    refuse_location.store(true, Ordering::SeqCst);
    let (s1, e1) = (s.clone(), edit.clone());
    let res = ds
        .call(move |a| {
            a.edit_config(
                &s1,
                Datastore::Running,
                Operation::Merge,
                TestOption::TestThenSet,
                ErrorOption::RollbackOnError,
                &e1,
            )
        })
        .await
        .unwrap();
    let errs = res.unwrap_err();
    assert!(errs[0].message.contains("refused for the test"), "{errs:?}");
    assert!(
        contact_applied.lock().unwrap().is_empty(),
        "the other service saw a change"
    );
    assert!(location_applied.lock().unwrap().is_empty());
    for dsn in [Datastore::Running, Datastore::Candidate, Datastore::Startup] {
        let s2 = s.clone();
        let xml = ds
            .run(move |a| a.get_config(&s2, dsn, &Filter::All, WithDefaults::Explicit))
            .await
            .unwrap();
        assert!(!xml.contains("noc@example.net"), "{dsn:?} changed: {xml}");
    }
    let on_disk = std::fs::read_to_string(dir.join("startup.xml")).unwrap();
    assert!(!on_disk.contains("noc@example.net"));

    // Once the service agrees, both see exactly their own changes.
    refuse_location.store(false, Ordering::SeqCst);
    let s3 = s.clone();
    ds.call(move |a| {
        a.edit_config(
            &s3,
            Datastore::Running,
            Operation::Merge,
            TestOption::TestThenSet,
            ErrorOption::StopOnError,
            &edit,
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        *contact_applied.lock().unwrap(),
        vec!["/ietf-system:system/contact".to_string()]
    );
    assert_eq!(
        *location_applied.lock().unwrap(),
        vec!["/ietf-system:system/location".to_string()]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_reads_resume_after_keys() {
    let dir = tempdir();
    let svc = recorder("table", "/ietf-system:system/contact");
    let visited = svc.visited.clone();
    let app = Appliance::start(Options {
        state_dir: dir.clone(),
        factory: factory(),
        extra_yang: Vec::new(),
        extra_services: vec![Box::new(svc)],
        opener: std::sync::Arc::new(lifeline::ports::serial::TtyOpener),
    })
    .await
    .unwrap();
    let q = StateQuery {
        path: "/test:table".into(),
        after: Some(vec!["k05000".into()]),
        limit: Some(2),
    };
    let got = app.ds.call(move |a| a.read_state(&q)).await.unwrap();
    assert_eq!(
        got,
        vec![
            (
                "/test:table/row[key='k05001']/value".to_string(),
                Some("5001".to_string())
            ),
            (
                "/test:table/row[key='k05002']/value".to_string(),
                Some("5002".to_string())
            ),
        ]
    );
    assert_eq!(
        visited.load(Ordering::SeqCst),
        2,
        "the read walked more than it returned"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "lifeline-svc-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
