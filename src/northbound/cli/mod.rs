//! The SSH CLI: paths are the YANG paths, generated from the schema at run time.
//! Operational mode shows and requests; configuration mode edits the shared
//! candidate and commits through the datastore like NETCONF does.
pub mod alarms;
pub mod line;
pub mod path;
pub mod render;
pub mod shell;

use std::time::Duration;

use yang5::data::{Data, DataFormat, DataPrinterFlags};
use yang5::schema::SchemaNodeKind;

use crate::datastore::tree::{self, Tree};
use crate::datastore::{CommitOptions, Confirm, Datastore, Filter, Handle, Session, Workspace};
use path::{Purpose, Resolved};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Operational,
    Configuration,
}

/// What a command did.
pub enum Outcome {
    Output(String),
    /// The session ends.
    Exit,
    /// The terminal goes to a console port (`connect`) or the chooser (`pmshell`).
    Console(Option<String>),
}

/// A command's failure, shown to the operator.
#[derive(Debug, Clone)]
pub struct CliError(pub String);

impl From<crate::datastore::Error> for CliError {
    fn from(e: crate::datastore::Error) -> CliError {
        match &e.path {
            Some(p) => CliError(format!("error: {}\n  at {p}", e.message)),
            None => CliError(format!("error: {}", e.message)),
        }
    }
}

impl From<path::PathError> for CliError {
    fn from(e: path::PathError) -> CliError {
        CliError(format!("error: {e}"))
    }
}

type CliResult = Result<Outcome, CliError>;

const PORTS: &str = "/lifeline-ports:ports/port";

/// An action's output, one `name value` line a leaf.
fn output_lines(v: &serde_json::Value, prefix: &str, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let k = k.rsplit(':').next().unwrap_or(k);
                let p = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix} {k}")
                };
                output_lines(v, &p, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| output_lines(v, prefix, out)),
        v => out.push_str(&format!(
            "{prefix} {}\n",
            render::word(&crate::service::config::scalar_text(v).unwrap_or_default())
        )),
    }
}

const OPERATIONAL: &[(&str, &str)] = &[
    ("show", "Show configuration, state, history and events"),
    ("configure", "Enter configuration mode"),
    ("request", "Run an operation (YANG RPC or action)"),
    ("pmshell", "Choose a console port and attach to it"),
    ("connect", "Attach to a console port: connect PORT"),
    ("pmusers", "List console sessions: pmusers [disconnect ID]"),
    ("exit", "Leave the CLI"),
];

const CONFIGURATION: &[(&str, &str)] = &[
    ("set", "Set a value or create an entry"),
    ("delete", "Delete a value or a subtree"),
    ("edit", "Move to a subtree"),
    ("up", "Move up one level"),
    ("top", "Move to the top level"),
    (
        "show",
        "Show the candidate configuration (| compare: the changes)",
    ),
    ("validate", "Check the candidate configuration"),
    (
        "commit",
        "Commit the candidate: [confirmed N] [comment \"text\"]",
    ),
    (
        "rollback",
        "Load an earlier configuration into the candidate: rollback N",
    ),
    ("discard", "Discard the uncommitted changes"),
    ("run", "Run an operational-mode command"),
    ("exit", "Leave configuration mode"),
];

pub struct Cli {
    ds: Handle,
    session: Session,
    mode: Mode,
    /// The `edit` level in configuration mode.
    level: Resolved,
    /// The shared candidate, or a private one (`configure private`).
    workspace: Workspace,
    hostname: String,
    ports: Option<std::sync::Arc<crate::ports::Manager>>,
}

/// Splits a command line into words: double quotes group, backslash escapes,
/// `|` stands alone.
pub fn words(line: &str) -> Result<Vec<String>, CliError> {
    if line.contains('\0') {
        return Err(CliError("error: NUL characters are not allowed".into()));
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => cur.push(chars.next().unwrap_or('\\')),
                        Some(c) => cur.push(c),
                        None => return Err(CliError("error: unterminated quote".into())),
                    }
                }
            }
            '|' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                out.push("|".into());
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn root() -> Resolved {
    Resolved {
        path: String::new(),
        node: None,
        value: None,
        input: Vec::new(),
        words: Vec::new(),
    }
}

/// `| display xml|json|set` and `| compare` after a show command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Display {
    Tree,
    Xml,
    Json,
    Set,
    Compare,
}

fn split_pipe(ws: &[String]) -> Result<(Vec<String>, Display), CliError> {
    let Some(at) = ws.iter().position(|w| w == "|") else {
        return Ok((ws.to_vec(), Display::Tree));
    };
    let rest: Vec<&str> = ws[at + 1..].iter().map(String::as_str).collect();
    let display = match rest.as_slice() {
        ["display", "xml"] => Display::Xml,
        ["display", "json"] => Display::Json,
        ["display", "set"] => Display::Set,
        ["compare"] => Display::Compare,
        _ => {
            return Err(CliError(
                "error: after | use: display xml, display json, display set, compare".into(),
            ));
        }
    };
    Ok((ws[..at].to_vec(), display))
}

fn format_tree(t: &Tree, display: Display) -> String {
    match display {
        Display::Xml | Display::Json => {
            let fmt = if display == Display::Xml {
                DataFormat::XML
            } else {
                DataFormat::JSON
            };
            if t.reference().is_none() {
                return String::new();
            }
            let mut s = t
                .print_string(fmt, DataPrinterFlags::WITH_SIBLINGS)
                .unwrap_or_default();
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        }
        Display::Set => render::set_lines(t).into_iter().map(|l| l + "\n").collect(),
        Display::Tree | Display::Compare => render::braces(t),
    }
}

impl Cli {
    pub fn new(ds: Handle, session: Session) -> Cli {
        let mut cli = Cli {
            ds,
            session,
            mode: Mode::Operational,
            level: root(),
            workspace: Workspace::Shared,
            hostname: String::new(),
            ports: None,
        };
        cli.refresh_hostname();
        cli
    }

    /// Gives the CLI the console ports (pmshell, connect, pmusers).
    pub fn with_ports(mut self, ports: std::sync::Arc<crate::ports::Manager>) -> Cli {
        self.ports = Some(ports);
        self
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    fn refresh_hostname(&mut self) {
        let (doc, _) = self.ds.running();
        self.hostname = doc
            .get("/ietf-system:system/hostname")
            .and_then(|v| v.as_str())
            .unwrap_or("lifeline")
            .to_string();
    }

    pub fn prompt(&self) -> String {
        match self.mode {
            Mode::Operational => format!("{}@{}> ", self.session.user, self.hostname),
            Mode::Configuration => format!("{}@{}# ", self.session.user, self.hostname),
        }
    }

    /// The line above the prompt in configuration mode (`[edit ports port port01]`).
    pub fn banner(&self) -> String {
        match self.mode {
            Mode::Operational => String::new(),
            Mode::Configuration if self.level.words.is_empty() => "[edit]\n".into(),
            Mode::Configuration => format!("[edit {}]\n", self.level.words.join(" ")),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Runs one command line.
    pub async fn execute(&mut self, line: &str) -> CliResult {
        let ws = words(line)?;
        if ws.is_empty() {
            return Ok(Outcome::Output(String::new()));
        }
        match self.mode {
            Mode::Operational => self.operational(&ws).await,
            Mode::Configuration => self.configuration(&ws).await,
        }
    }

    async fn operational(&mut self, ws: &[String]) -> CliResult {
        match ws[0].as_str() {
            "show" => self.show_operational(&ws[1..]).await,
            "configure" => {
                self.workspace = match ws.get(1).map(String::as_str) {
                    None => Workspace::Shared,
                    Some("private") => Workspace::Private,
                    Some(other) => {
                        return Err(CliError(format!(
                            "error: configure [private], not \"{other}\""
                        )));
                    }
                };
                self.mode = Mode::Configuration;
                self.level = root();
                Ok(Outcome::Output(match self.workspace {
                    Workspace::Shared => String::new(),
                    Workspace::Private => {
                        "private candidate: your changes merge with the running configuration at commit\n".into()
                    }
                }))
            }
            "request" => self.request(&ws[1..]).await,
            "pmshell" => Ok(Outcome::Console(None)),
            "connect" => match ws.get(1) {
                Some(port) => Ok(Outcome::Console(Some(port.clone()))),
                None => Err(CliError("error: connect PORT".into())),
            },
            "pmusers" => self.pmusers(&ws[1..]).await,
            "exit" | "quit" | "logout" => Ok(Outcome::Exit),
            "help" => Ok(Outcome::Output(help_table(OPERATIONAL))),
            other => Err(CliError(format!(
                "error: unknown command \"{other}\"; ? lists the commands"
            ))),
        }
    }

    async fn show_operational(&mut self, args: &[String]) -> CliResult {
        let (args, display) = split_pipe(args)?;
        match args.first().map(String::as_str) {
            None => Err(CliError(
                "error: show what? (? lists what can be shown)".into(),
            )),
            Some("configuration") => {
                let r = path::resolve(self.ds.ctx, &root(), &args[1..], Purpose::Show)?;
                let t = self.tree_of(Some(Datastore::Running), &r.path).await?;
                Ok(Outcome::Output(format_tree(&t, display)))
            }
            Some("rollback") => self.show_rollback().await,
            Some("alarms") if args.len() == 1 && display == Display::Tree => {
                let t = self.tree_of(None, "/ietf-alarms:alarms/alarm-list").await?;
                Ok(Outcome::Output(alarms::render(&t)))
            }
            Some("log") => self.show_log(&args[1..]).await,
            Some(_) => {
                let r = path::resolve(self.ds.ctx, &root(), &args, Purpose::Show)?;
                let t = self.tree_of(None, &r.path).await?;
                Ok(Outcome::Output(format_tree(&t, display)))
            }
        }
    }

    /// A datastore (or the operational view, `None`) below a data path, as the
    /// session may read it.
    async fn tree_of(&self, ds: Option<Datastore>, path: &str) -> Result<Tree, CliError> {
        let filter = if path.is_empty() {
            Filter::All
        } else {
            Filter::Path(path.to_string())
        };
        let t = match ds {
            Some(ds) => self.ds.config_tree(&self.session, ds, filter).await?,
            None => self.ds.operational_tree(&self.session, filter).await?,
        };
        Ok(t)
    }

    /// The session's workspace (shared or private candidate) below a data path.
    async fn workspace_of(&self, path: &str) -> Result<Tree, CliError> {
        let filter = if path.is_empty() {
            Filter::All
        } else {
            Filter::Path(path.to_string())
        };
        Ok(self
            .ds
            .workspace_tree(&self.session, self.workspace, filter)
            .await?)
    }

    async fn show_rollback(&self) -> CliResult {
        let history = self.ds.history();
        let mut out = String::new();
        for (back, r) in history.iter().rev().enumerate() {
            let mut line = format!(
                "{back:>3}   {}  by {} via {}",
                r.time.format("%Y-%m-%d %H:%M:%S UTC"),
                r.user,
                r.face
            );
            if !r.comment.is_empty() {
                line.push_str(&format!("  \"{}\"", r.comment));
            }
            out.push_str(&line);
            out.push('\n');
        }
        Ok(Outcome::Output(out))
    }

    async fn show_log(&self, args: &[String]) -> CliResult {
        let n: usize = match args.first() {
            Some(v) => v
                .parse()
                .map_err(|_| CliError("error: show log [COUNT]".into()))?,
            None => 50,
        };
        let events = self.ds.events.recent();
        let mut out = String::new();
        for e in events.iter().rev().take(n).rev() {
            out.push_str(&format!(
                "{} {:<8} {:<24} {}\n",
                e.time.format("%Y-%m-%d %H:%M:%S"),
                e.severity.as_str(),
                e.kind.as_str(),
                e.message
            ));
        }
        Ok(Outcome::Output(out))
    }

    /// The console sessions, read through the datastore (NACM decides what
    /// the user reads), of the ports the user may use; `disconnect ID` closes
    /// one through the port's action (NACM decides again).
    async fn pmusers(&mut self, args: &[String]) -> CliResult {
        let t = self
            .ds
            .operational_tree(&self.session, Filter::Path(PORTS.into()))
            .await?;
        let dir = self.ds.aaa().current();
        // (port, session id, user, protocol, from, since, mode)
        let mut rows: Vec<[String; 7]> = Vec::new();
        for port in t.find_xpath(PORTS).into_iter().flatten() {
            let name = tree::leaf(&port, "name").unwrap_or_default();
            let grants: Vec<(String, crate::aaa::Access)> = port
                .find_xpath("access/group")
                .into_iter()
                .flatten()
                .filter_map(|g| {
                    let mode = match tree::leaf(&g, "mode")?.as_str() {
                        "read-write" => crate::aaa::Access::ReadWrite,
                        "read-only" => crate::aaa::Access::ReadOnly,
                        _ => crate::aaa::Access::None,
                    };
                    Some((tree::leaf(&g, "name")?, mode))
                })
                .collect();
            if dir.console_access(&self.session.user, &grants) == crate::aaa::Access::None {
                continue;
            }
            for s in port.find_xpath("state/session").into_iter().flatten() {
                let get = |l: &str| tree::leaf(&s, l).unwrap_or_else(|| "-".into());
                let from = match (
                    tree::leaf(&s, "remote-address"),
                    tree::leaf(&s, "remote-port"),
                ) {
                    (Some(a), Some(p)) if a.contains(':') => format!("[{a}]:{p}"),
                    (Some(a), Some(p)) => format!("{a}:{p}"),
                    _ => "-".into(),
                };
                rows.push([
                    name.clone(),
                    get("id"),
                    get("user"),
                    get("protocol"),
                    from,
                    get("since")
                        .replace('T', " ")
                        .trim_end_matches('Z')
                        .to_string(),
                    get("mode"),
                ]);
            }
        }
        match args {
            [] => {
                let mut out = format!(
                    "{:>6}  {:<12} {:<12} {:<8} {:<22} {:<20} {}\n",
                    "id", "port", "user", "via", "from", "since", "mode"
                );
                for [port, id, user, via, from, since, mode] in &rows {
                    out.push_str(&format!(
                        "{id:>6}  {port:<12} {user:<12} {via:<8} {from:<22} {since:<20} {mode}\n"
                    ));
                }
                Ok(Outcome::Output(out))
            }
            [verb, id] if verb == "disconnect" => {
                let port = rows
                    .iter()
                    .find(|r| r[1] == *id)
                    .map(|r| r[0].clone())
                    .ok_or_else(|| CliError(format!("error: no session {id}")))?;
                let id: u32 = id
                    .parse()
                    .map_err(|_| CliError(format!("error: no session {id}")))?;
                let path = crate::service::DataPath::root("lifeline-ports:ports")
                    .entry("port", &[("name", &port)])
                    .child("disconnect-session");
                self.ds
                    .action(
                        &self.session,
                        crate::datastore::ActionCall::Json(path, serde_json::json!({ "id": id })),
                    )
                    .await?;
                Ok(Outcome::Output(format!("session {id} on {port} closed\n")))
            }
            _ => Err(CliError("error: pmusers [disconnect ID]".into())),
        }
    }

    pub fn ports(&self) -> Option<&std::sync::Arc<crate::ports::Manager>> {
        self.ports.as_ref()
    }

    async fn request(&mut self, args: &[String]) -> CliResult {
        let r = path::resolve(self.ds.ctx, &root(), args, Purpose::Request)?;
        let Some(op) = &r.node else {
            return Err(CliError("error: request what?".into()));
        };
        if !matches!(op.kind(), SchemaNodeKind::Rpc | SchemaNodeKind::Action) {
            return Err(CliError(format!(
                "error: {} is not an operation",
                op.name()
            )));
        }
        // Build the request as instance data: the path, then the input leaves.
        let mut t = tree::empty(self.ds.ctx);
        t.new_path(&r.path, None, false)
            .map_err(|e| CliError(format!("error: {e}")))?;
        for (name, value) in &r.input {
            t.new_path(&format!("{}/{name}", r.path), Some(value), false)
                .map_err(|e| CliError(format!("error: {name}: {e}")))?;
        }
        let xml = tree::print(&t, DataFormat::XML, DataPrinterFlags::WITH_SIBLINGS)?;
        let out = self
            .ds
            .action(&self.session, crate::datastore::ActionCall::Xml(xml))
            .await?;
        let mut text = String::new();
        output_lines(&out.value, "", &mut text);
        Ok(Outcome::Output(text))
    }

    async fn configuration(&mut self, ws: &[String]) -> CliResult {
        let ctx = self.ds.ctx;
        let s = self.session.clone();
        match ws[0].as_str() {
            "set" => {
                let r = path::resolve(ctx, &self.level, &ws[1..], Purpose::Set)?;
                let value = r.value.clone();
                let p = r.path.clone();
                let wsp = self.workspace;
                self.ds.set_path(&s, wsp, p, value).await?;
                Ok(Outcome::Output(String::new()))
            }
            "delete" => {
                let r = path::resolve(ctx, &self.level, &ws[1..], Purpose::Config)?;
                if r.path.is_empty() {
                    return Err(CliError(
                        "error: delete what? (use delete with a path)".into(),
                    ));
                }
                let p = r.path.clone();
                let wsp = self.workspace;
                self.ds.delete_path(&s, wsp, p).await?;
                Ok(Outcome::Output(String::new()))
            }
            "edit" => {
                let r = path::resolve(ctx, &self.level, &ws[1..], Purpose::Config)?;
                if r.node.as_ref().is_some_and(|n| {
                    matches!(n.kind(), SchemaNodeKind::Leaf | SchemaNodeKind::LeafList)
                }) {
                    return Err(CliError(
                        "error: edit goes to containers and list entries, not leaves".into(),
                    ));
                }
                self.level = r;
                Ok(Outcome::Output(String::new()))
            }
            "up" => {
                let n: usize = ws.get(1).and_then(|v| v.parse().ok()).unwrap_or(1);
                self.level = self.up_level(n)?;
                Ok(Outcome::Output(String::new()))
            }
            "top" => {
                self.level = root();
                Ok(Outcome::Output(String::new()))
            }
            "show" => {
                let (args, display) = split_pipe(&ws[1..])?;
                let r = path::resolve(ctx, &self.level, &args, Purpose::Show)?;
                if display == Display::Compare {
                    let running = self.tree_of(Some(Datastore::Running), &r.path).await?;
                    let candidate = self.workspace_of(&r.path).await?;
                    return Ok(Outcome::Output(render::compare(&running, &candidate)));
                }
                let t = self.workspace_of(&r.path).await?;
                Ok(Outcome::Output(format_tree(&t, display)))
            }
            "validate" => {
                self.ds.workspace_validate(&s, self.workspace).await?;
                Ok(Outcome::Output("configuration check succeeds\n".into()))
            }
            "commit" => self.commit(&ws[1..]).await,
            "rollback" => {
                let n: usize = match ws.get(1) {
                    Some(v) => v.parse().map_err(|_| {
                        CliError("error: rollback N (show rollback lists them)".into())
                    })?,
                    None => 0,
                };
                let wsp = self.workspace;
                self.ds.load_rollback(&s, wsp, n).await?;
                Ok(Outcome::Output("load complete\n".into()))
            }
            "discard" => {
                let wsp = self.workspace;
                self.ds.workspace_discard(&s, wsp).await?;
                Ok(Outcome::Output(String::new()))
            }
            "run" => {
                self.mode = Mode::Operational;
                let r = self.operational(&ws[1..]).await;
                self.mode = Mode::Configuration;
                r
            }
            "exit" | "quit" => {
                if !self.level.words.is_empty() {
                    self.level = root();
                    return Ok(Outcome::Output(String::new()));
                }
                self.mode = Mode::Operational;
                if self.workspace == Workspace::Private {
                    self.ds.private_end(&s).await?;
                }
                Ok(Outcome::Output(String::new()))
            }
            "help" => Ok(Outcome::Output(help_table(CONFIGURATION))),
            other => Err(CliError(format!(
                "error: unknown command \"{other}\"; ? lists the commands"
            ))),
        }
    }

    /// The edit level `n` steps up (a list entry counts as one step).
    fn up_level(&self, n: usize) -> Result<Resolved, CliError> {
        let mut words = self.level.words.clone();
        let mut r = root();
        // Re-resolve the shortened word list: drop whole steps from the end.
        for _ in 0..n {
            let ctx = self.ds.ctx;
            let mut best = root();
            let mut cut = 0;
            for len in (0..words.len()).rev() {
                if let Ok(candidate) = path::resolve(ctx, &root(), &words[..len], Purpose::Config)
                    && candidate.words.len() == len
                {
                    best = candidate;
                    cut = len;
                    break;
                }
            }
            words.truncate(cut);
            r = best;
        }
        Ok(r)
    }

    async fn commit(&mut self, args: &[String]) -> CliResult {
        let mut opts = CommitOptions {
            force_confirm: true,
            ..Default::default()
        };
        let mut check_only = false;
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "check" => check_only = true,
                "confirmed" => {
                    let minutes = match args.get(i + 1).and_then(|v| v.parse::<u64>().ok()) {
                        Some(m) => {
                            i += 1;
                            m
                        }
                        None => 10,
                    };
                    if minutes == 0 {
                        return Err(CliError(
                            "error: commit confirmed takes minutes (1 or more)".into(),
                        ));
                    }
                    opts.confirm = Some(Confirm {
                        timeout: Duration::from_secs(minutes * 60),
                        persist: None,
                    });
                }
                "comment" => {
                    i += 1;
                    opts.comment = Some(
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| CliError("error: comment needs its text".into()))?,
                    );
                }
                other => {
                    return Err(CliError(format!(
                        "error: unexpected \"{other}\" after commit"
                    )));
                }
            }
            i += 1;
        }
        let wsp = self.workspace;
        if check_only {
            self.ds.workspace_validate(&self.session, wsp).await?;
            return Ok(Outcome::Output("configuration check succeeds\n".into()));
        }
        // A CLI confirmed commit outlives the session, as on routers.
        if let Some(c) = opts.confirm.as_mut() {
            c.persist = Some(format!("cli-{}", self.session.id));
        }
        let confirmed = opts.confirm.as_ref().map(|c| c.timeout);
        self.ds.workspace_commit(&self.session, wsp, opts).await?;
        self.refresh_hostname();
        Ok(Outcome::Output(match confirmed {
            Some(t) => format!(
                "commit complete\ncommit confirmed will be automatically rolled back in {} minutes unless confirmed\n",
                t.as_secs() / 60
            ),
            None => "commit complete\n".into(),
        }))
    }

    /// Candidates for Tab and `?`: (word, help) for what may come next after
    /// `line`; the last word, if not followed by a space, is the prefix to match.
    pub async fn complete(&self, line: &str) -> Vec<(String, String)> {
        let ws = words(line).unwrap_or_default();
        let (done, prefix) = if line.ends_with(' ') || line.is_empty() {
            (ws, String::new())
        } else {
            let mut ws = ws;
            let p = ws.pop().unwrap_or_default();
            (ws, p)
        };
        let all = self.candidates(&done).await;
        all.into_iter()
            .filter(|(w, _)| w.starts_with(&prefix))
            .collect()
    }

    async fn candidates(&self, done: &[String]) -> Vec<(String, String)> {
        let commands = match self.mode {
            Mode::Operational => OPERATIONAL,
            Mode::Configuration => CONFIGURATION,
        };
        let Some(cmd) = done.first() else {
            return commands
                .iter()
                .map(|(c, h)| (c.to_string(), h.to_string()))
                .collect();
        };
        if done.iter().any(|w| w == "|") {
            return vec![
                ("display".into(), "display xml | json | set".into()),
                ("compare".into(), "the changes against running".into()),
            ];
        }
        let (purpose, base, rest) = match (self.mode, cmd.as_str()) {
            (Mode::Operational, "show") => {
                if done.get(1).map(String::as_str) == Some("configuration") {
                    (Purpose::Config, root(), &done[2..])
                } else {
                    let mut extra = Vec::new();
                    if done.len() == 1 {
                        extra.push((
                            "configuration".to_string(),
                            "The running configuration".to_string(),
                        ));
                        extra.push(("rollback".to_string(), "The commit history".to_string()));
                        extra.push(("log".to_string(), "Recent events".to_string()));
                    }
                    let mut c = self
                        .path_candidates(Purpose::Show, &root(), &done[1..])
                        .await;
                    extra.append(&mut c);
                    return extra;
                }
            }
            (Mode::Operational, "request") => (Purpose::Request, root(), &done[1..]),
            (Mode::Configuration, "set") => (Purpose::Set, self.level.clone(), &done[1..]),
            (Mode::Configuration, "delete" | "edit") => {
                (Purpose::Config, self.level.clone(), &done[1..])
            }
            (Mode::Configuration, "show") => (Purpose::Show, self.level.clone(), &done[1..]),
            (Mode::Configuration, "commit") => {
                return vec![
                    (
                        "confirmed".into(),
                        "Roll back unless confirmed within N minutes (default 10)".into(),
                    ),
                    (
                        "comment".into(),
                        "A comment for the rollback history".into(),
                    ),
                    ("check".into(), "Validate only".into()),
                ];
            }
            _ => return Vec::new(),
        };
        self.path_candidates(purpose, &base, rest).await
    }

    async fn path_candidates(
        &self,
        purpose: Purpose,
        base: &Resolved,
        rest: &[String],
    ) -> Vec<(String, String)> {
        let ctx = self.ds.ctx;
        match path::expect(ctx, base, rest, purpose) {
            path::Expect::Child(parent) => path::children(ctx, parent.as_ref(), purpose)
                .iter()
                .map(|n| (n.name().to_string(), path::help_line(n)))
                .collect(),
            path::Expect::Key { list_path, key } => {
                let help = path::help_line(&key);
                let name = key.name().to_string();
                let ws = (purpose != Purpose::Show || self.mode == Mode::Configuration)
                    .then_some(self.workspace);
                let filter = Filter::Path(list_path.clone());
                let t = match ws {
                    Some(ws) => self.ds.workspace_tree(&self.session, ws, filter).await,
                    None => self.ds.operational_tree(&self.session, filter).await,
                };
                let values: Vec<String> = t
                    .ok()
                    .and_then(|t| {
                        t.find_xpath(&format!("{list_path}/{name}"))
                            .map(|set| set.filter_map(|n| n.value_canonical()).collect())
                            .ok()
                    })
                    .unwrap_or_default();
                let mut out: Vec<_> = values
                    .into_iter()
                    .map(|v| (render::word(&v), help.clone()))
                    .collect();
                if out.is_empty() || purpose == Purpose::Set {
                    out.push((format!("<{}>", key.name()), help));
                }
                out
            }
            path::Expect::Value(leaf) => {
                let help = path::help_line(&leaf);
                let mut out: Vec<_> = path::enum_values(&leaf)
                    .into_iter()
                    .map(|v| (v, help.clone()))
                    .collect();
                if out.is_empty() {
                    out.push((format!("<{}>", path::type_hint(&leaf)), help));
                }
                out
            }
            path::Expect::Input(names) => names.into_iter().map(|n| (n, "input".into())).collect(),
            path::Expect::Nothing => Vec::new(),
        }
    }
}

fn help_table(rows: &[(&str, &str)]) -> String {
    rows.iter()
        .map(|(c, h)| format!("  {c:<12} {h}\n"))
        .collect()
}

/// Formats candidates as `?` help lists them.
pub fn format_help(cands: &[(String, String)]) -> String {
    if cands.is_empty() {
        return "  <[Enter]>    Execute this command\n".into();
    }
    let width = cands
        .iter()
        .map(|(w, _)| w.len())
        .max()
        .unwrap_or(0)
        .clamp(8, 28);
    cands
        .iter()
        .map(|(w, h)| format!("  {w:<width$}  {h}\n"))
        .collect()
}

/// What Tab does with candidates: the completed line, or `None` when several
/// remain (their common prefix is applied and they are listed).
pub fn apply_completion(line: &str, cands: &[(String, String)]) -> (String, bool) {
    let start = if line.ends_with(' ') || line.is_empty() {
        line.len()
    } else {
        line.rfind(' ').map(|i| i + 1).unwrap_or(0)
    };
    let real: Vec<&String> = cands
        .iter()
        .map(|(w, _)| w)
        .filter(|w| !w.starts_with('<'))
        .collect();
    match real.as_slice() {
        [] => (line.to_string(), false),
        [one] => (format!("{}{} ", &line[..start], one), true),
        many => {
            let mut common = many[0].clone();
            for w in &many[1..] {
                while !w.starts_with(&common) {
                    common.pop();
                }
            }
            if common.len() > line.len() - start {
                (format!("{}{}", &line[..start], common), false)
            } else {
                (line.to_string(), false)
            }
        }
    }
}
