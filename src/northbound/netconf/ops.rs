//! NETCONF operations: each parses its parameters from the `<rpc>` element and
//! asks the datastore; nothing here keeps configuration state.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Subscription;
use super::reply::{self, NC, bad_element};
use crate::datastore::edit::Operation;
use crate::datastore::{
    CommitOptions, Confirm, Datastore, Error, ErrorOption, ErrorTag, Filter, Handle, Session,
    Source, TestOption, WithDefaults,
};
use crate::xml::Element;

const WD_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults";
const MON_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
pub const NOTIF_NS: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";
const YANG_NS: &str = "urn:ietf:params:xml:ns:yang:1";

/// What the session does after an operation.
pub enum Outcome {
    Reply(String),
    /// Reply, then close the session.
    Close(String),
    /// Reply, then start sending notifications.
    Subscribe(String, Subscription),
    /// Reply, then kill that session.
    Kill(String, u32),
}

pub struct Op<'a> {
    pub ds: &'a Handle,
    pub session: &'a Session,
    pub rpc: &'a Element,
    pub subscribed: bool,
}

type R = Result<Outcome, Vec<Error>>;

fn one(e: Error) -> Vec<Error> {
    vec![e]
}

fn datastore_of(parent: &Element, param: &str) -> Result<Datastore, Error> {
    let el = parent.nc_child(param).ok_or_else(|| {
        bad_element(
            ErrorTag::MissingElement,
            param,
            format!("<{param}> is missing"),
        )
    })?;
    let ds = el.elements().next().ok_or_else(|| {
        bad_element(
            ErrorTag::MissingElement,
            param,
            format!("<{param}> names no datastore"),
        )
    })?;
    if ds.ns != NC && !ds.ns.is_empty() {
        return Err(bad_element(
            ErrorTag::UnknownNamespace,
            &ds.name,
            "unknown datastore namespace",
        ));
    }
    match ds.name.as_str() {
        "running" => Ok(Datastore::Running),
        "candidate" => Ok(Datastore::Candidate),
        "startup" => Ok(Datastore::Startup),
        "url" => Err(Error::protocol(
            ErrorTag::OperationNotSupported,
            "the :url capability is not supported",
        )),
        other => Err(bad_element(
            ErrorTag::BadElement,
            other,
            format!("unknown datastore <{other}>"),
        )),
    }
}

/// `<source>`/`<target>` that may also hold inline `<config>`.
fn source_of(parent: &Element, param: &str) -> Result<Source, Error> {
    if let Some(cfg) = parent.nc_child(param).and_then(|s| s.nc_child("config")) {
        return Ok(Source::Config(cfg.children_xml()));
    }
    datastore_of(parent, param).map(Source::Datastore)
}

fn filter_of(op: &Element) -> Result<Filter, Error> {
    let Some(f) = op.nc_child("filter") else {
        return Ok(Filter::All);
    };
    match f.attr("type").unwrap_or("subtree") {
        // An empty subtree filter selects nothing (RFC 6241 section 6.4.2).
        "subtree" => Ok(Filter::Subtree(f.clone())),
        "xpath" => {
            let select = f.attr("select").ok_or_else(|| {
                Error::protocol(
                    ErrorTag::MissingAttribute,
                    "an XPath filter needs a select attribute",
                )
                .with_info("bad-attribute", "select")
                .with_info("bad-element", "filter")
            })?;
            Ok(Filter::XPath {
                select: select.to_string(),
                scope: f.scope.to_vec(),
            })
        }
        other => Err(Error::protocol(
            ErrorTag::BadAttribute,
            format!("unknown filter type \"{other}\""),
        )
        .with_info("bad-attribute", "type")
        .with_info("bad-element", "filter")),
    }
}

fn with_defaults_of(op: &Element) -> Result<WithDefaults, Error> {
    let Some(wd) = op.child(WD_NS, "with-defaults") else {
        return Ok(WithDefaults::Explicit);
    };
    match wd.text().as_str() {
        "report-all" => Ok(WithDefaults::ReportAll),
        "report-all-tagged" => Ok(WithDefaults::ReportAllTagged),
        "trim" => Ok(WithDefaults::Trim),
        "explicit" => Ok(WithDefaults::Explicit),
        other => Err(bad_element(
            ErrorTag::InvalidValue,
            "with-defaults",
            format!("unknown with-defaults mode \"{other}\""),
        )),
    }
}

fn text_param(op: &Element, ns: &str, name: &str) -> Option<String> {
    if ns == NC {
        return op.nc_child(name).map(|e| e.text());
    }
    op.child(ns, name).map(|e| e.text())
}

pub async fn dispatch(o: Op<'_>) -> R {
    let Some(op) = o.rpc.elements().next() else {
        return Err(one(bad_element(
            ErrorTag::MissingElement,
            "rpc",
            "the <rpc> names no operation",
        )));
    };
    let ds = o.ds;
    let session = o.session.clone();
    let rpc = o.rpc;
    if op.ns == YANG_NS && op.name == "action" {
        let target = op
            .elements()
            .next()
            .ok_or_else(|| {
                one(bad_element(
                    ErrorTag::MissingElement,
                    "action",
                    "<action> names no data node",
                ))
            })?
            .to_xml();
        return run_action(ds, &session, rpc, target).await;
    }
    if let Some(module) = crate::schema::module_of_namespace(&op.ns) {
        ds.may_exec(&session, &module, &op.name)
            .await
            .map_err(one)?;
    }
    match (op.ns.as_str(), op.name.as_str()) {
        (NC, "get-config") => {
            let source = datastore_of(op, "source").map_err(one)?;
            let filter = filter_of(op).map_err(one)?;
            let wd = with_defaults_of(op).map_err(one)?;
            let body = ds
                .get_config(&session, source, filter, wd)
                .await
                .map_err(one)?;
            Ok(Outcome::Reply(reply::data(rpc, &body)))
        }
        (NC, "get") => {
            let filter = filter_of(op).map_err(one)?;
            let wd = with_defaults_of(op).map_err(one)?;
            let body = ds.get(&session, filter, wd).await.map_err(one)?;
            Ok(Outcome::Reply(reply::data(rpc, &body)))
        }
        (NC, "edit-config") => {
            let target = datastore_of(op, "target").map_err(one)?;
            let default_op = match text_param(op, NC, "default-operation").as_deref() {
                None | Some("merge") => Operation::Merge,
                Some("replace") => Operation::Replace,
                Some("none") => Operation::None,
                Some(other) => {
                    return Err(one(bad_element(
                        ErrorTag::InvalidValue,
                        "default-operation",
                        format!("invalid default-operation \"{other}\""),
                    )));
                }
            };
            let test = match text_param(op, NC, "test-option").as_deref() {
                None | Some("test-then-set") => TestOption::TestThenSet,
                Some("set") => TestOption::Set,
                Some("test-only") => TestOption::TestOnly,
                Some(other) => {
                    return Err(one(bad_element(
                        ErrorTag::InvalidValue,
                        "test-option",
                        format!("invalid test-option \"{other}\""),
                    )));
                }
            };
            let on_error = match text_param(op, NC, "error-option").as_deref() {
                None | Some("stop-on-error") => ErrorOption::StopOnError,
                Some("continue-on-error") => ErrorOption::ContinueOnError,
                Some("rollback-on-error") => ErrorOption::RollbackOnError,
                Some(other) => {
                    return Err(one(bad_element(
                        ErrorTag::InvalidValue,
                        "error-option",
                        format!("invalid error-option \"{other}\""),
                    )));
                }
            };
            if op.nc_child("url").is_some() {
                return Err(one(Error::protocol(
                    ErrorTag::OperationNotSupported,
                    "the :url capability is not supported",
                )));
            }
            let config = op
                .nc_child("config")
                .ok_or_else(|| {
                    one(bad_element(
                        ErrorTag::MissingElement,
                        "config",
                        "<edit-config> needs <config>",
                    ))
                })?
                .children_xml();
            ds.edit_config(&session, target, default_op, test, on_error, config)
                .await?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "copy-config") => {
            let target = datastore_of(op, "target").map_err(one)?;
            let source = source_of(op, "source").map_err(one)?;
            ds.copy_config(&session, target, source)
                .await
                .map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "delete-config") => {
            let target = datastore_of(op, "target").map_err(one)?;
            ds.delete_config(&session, target).await.map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "lock") => {
            let target = datastore_of(op, "target").map_err(one)?;
            ds.lock(&session, target).await.map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "unlock") => {
            let target = datastore_of(op, "target").map_err(one)?;
            ds.unlock(&session, target).await.map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "close-session") => Ok(Outcome::Close(reply::ok(rpc))),
        (NC, "kill-session") => {
            let id: u32 = text_param(op, NC, "session-id")
                .ok_or_else(|| {
                    one(bad_element(
                        ErrorTag::MissingElement,
                        "session-id",
                        "<kill-session> needs <session-id>",
                    ))
                })?
                .parse()
                .map_err(|_| {
                    one(bad_element(
                        ErrorTag::InvalidValue,
                        "session-id",
                        "not a session id",
                    ))
                })?;
            if id == o.session.id {
                return Err(one(bad_element(
                    ErrorTag::InvalidValue,
                    "session-id",
                    "a session cannot kill itself; use close-session",
                )));
            }
            Ok(Outcome::Kill(reply::ok(rpc), id))
        }
        (NC, "commit") => {
            let confirmed = op.nc_child("confirmed").is_some();
            let timeout = match text_param(op, NC, "confirm-timeout") {
                None => 600,
                Some(t) => t.parse::<u32>().ok().filter(|t| *t > 0).ok_or_else(|| {
                    one(bad_element(
                        ErrorTag::InvalidValue,
                        "confirm-timeout",
                        "confirm-timeout must be a positive number of seconds",
                    ))
                })?,
            };
            let opts = CommitOptions {
                confirm: confirmed.then(|| Confirm {
                    timeout: Duration::from_secs(timeout as u64),
                    persist: text_param(op, NC, "persist"),
                }),
                persist_id: text_param(op, NC, "persist-id"),
                comment: None,
                force_confirm: false,
            };
            ds.commit(&session, opts).await.map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "cancel-commit") => {
            let persist_id = text_param(op, NC, "persist-id");
            ds.cancel_commit(&session, persist_id).await.map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "discard-changes") => {
            ds.discard_changes().await.map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (NC, "validate") => {
            let source = source_of(op, "source").map_err(one)?;
            ds.validate(source).await.map_err(one)?;
            Ok(Outcome::Reply(reply::ok(rpc)))
        }
        (MON_NS, "get-schema") => get_schema(rpc, op).map(Outcome::Reply).map_err(one),
        (NOTIF_NS, "create-subscription") => {
            if o.subscribed {
                return Err(one(Error::protocol(
                    ErrorTag::OperationFailed,
                    "this session already has a subscription",
                )));
            }
            let sub = subscription_of(op).map_err(one)?;
            Ok(Outcome::Subscribe(reply::ok(rpc), sub))
        }
        (ns, _) if ns != NC && crate::schema::module_namespace_known(ns) && ns != MON_NS => {
            run_action(ds, &session, rpc, op.to_xml()).await
        }
        (ns, name) => {
            let known = crate::schema::module_namespace_known(ns);
            Err(one(Error::protocol(
                if known {
                    ErrorTag::OperationNotSupported
                } else {
                    ErrorTag::UnknownNamespace
                },
                format!("operation <{name}> is not supported"),
            )
            .with_info("bad-element", name)
            .with_info("bad-namespace", ns)))
        }
    }
}

/// A YANG RPC or action of the model, run by the service that owns it.
async fn run_action(ds: &Handle, session: &Session, rpc: &Element, xml: String) -> R {
    let out = ds
        .action(session, crate::datastore::ActionCall::Xml(xml))
        .await
        .map_err(one)?;
    let body = out.xml().map_err(one)?;
    if body.is_empty() {
        return Ok(Outcome::Reply(reply::ok(rpc)));
    }
    let mut reply = reply::open(Some(rpc));
    reply.push_str(&body);
    reply.push_str("</rpc-reply>");
    Ok(Outcome::Reply(reply))
}

fn get_schema(rpc: &Element, op: &Element) -> Result<String, Error> {
    let id = text_param(op, MON_NS, "identifier").ok_or_else(|| {
        bad_element(
            ErrorTag::MissingElement,
            "identifier",
            "get-schema needs an identifier",
        )
    })?;
    let version = text_param(op, MON_NS, "version").filter(|v| !v.is_empty());
    if let Some(f) = text_param(op, MON_NS, "format") {
        let f = f.rsplit(':').next().unwrap_or("").to_string();
        if f != "yang" {
            return Err(bad_element(
                ErrorTag::InvalidValue,
                "format",
                "only the yang format is served",
            ));
        }
    }
    let matches: Vec<_> = crate::schema::embedded()
        .filter(|m| m.name == id && version.as_deref().is_none_or(|v| m.revision == Some(v)))
        .collect();
    match matches.len() {
        0 => Err(bad_element(
            ErrorTag::InvalidValue,
            "identifier",
            format!("no schema {id}"),
        )),
        1 => Ok(format!(
            "{}<data xmlns=\"{MON_NS}\">{}</data></rpc-reply>",
            reply::open(Some(rpc)),
            crate::xml::escape(matches[0].text)
        )),
        _ => Err(
            Error::protocol(ErrorTag::OperationFailed, "several versions: give one")
                .with_app_tag("data-not-unique"),
        ),
    }
}

fn parse_time(op: &Element, name: &str) -> Result<Option<DateTime<Utc>>, Error> {
    match text_param(op, NOTIF_NS, name) {
        None => Ok(None),
        Some(t) => DateTime::parse_from_rfc3339(&t)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                bad_element(
                    ErrorTag::InvalidValue,
                    name,
                    format!("<{name}> is not a date-and-time"),
                )
            }),
    }
}

fn subscription_of(op: &Element) -> Result<Subscription, Error> {
    if let Some(stream) = text_param(op, NOTIF_NS, "stream")
        && stream != "NETCONF"
    {
        return Err(bad_element(
            ErrorTag::InvalidValue,
            "stream",
            format!("no stream \"{stream}\"; the only stream is NETCONF"),
        ));
    }
    let start = parse_time(op, "startTime")?;
    let stop = parse_time(op, "stopTime")?;
    if stop.is_some() && start.is_none() {
        return Err(bad_element(
            ErrorTag::MissingElement,
            "startTime",
            "stopTime needs startTime",
        ));
    }
    if let (Some(a), Some(b)) = (start, stop)
        && b < a
    {
        return Err(bad_element(
            ErrorTag::BadElement,
            "stopTime",
            "stopTime is before startTime",
        ));
    }
    if start.is_some_and(|s| s > Utc::now()) {
        return Err(bad_element(
            ErrorTag::BadElement,
            "startTime",
            "startTime is in the future",
        ));
    }
    // RFC 5277 puts it in its own namespace; clients (ncclient) also use the base one.
    let filter = match op.child_any_ns("filter") {
        None => None,
        Some(f) if f.attr("type").unwrap_or("subtree") == "subtree" => Some(f.clone()),
        Some(_) => {
            return Err(Error::protocol(
                ErrorTag::OperationNotSupported,
                "notification filters must be subtree filters",
            )
            .with_info("bad-attribute", "type")
            .with_info("bad-element", "filter"));
        }
    };
    Ok(Subscription {
        start,
        stop,
        filter,
    })
}
