//! Errors of the datastore, shaped as NETCONF rpc-errors (RFC 6241 appendix A) so every
//! face can render them: NETCONF as-is, the CLI as a message with its path, SNMP as
//! an error-status.
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Transport,
    Rpc,
    Protocol,
    Application,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Transport => "transport",
            ErrorType::Rpc => "rpc",
            ErrorType::Protocol => "protocol",
            ErrorType::Application => "application",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTag {
    InUse,
    InvalidValue,
    TooBig,
    MissingAttribute,
    BadAttribute,
    UnknownAttribute,
    MissingElement,
    BadElement,
    UnknownElement,
    UnknownNamespace,
    AccessDenied,
    LockDenied,
    ResourceDenied,
    RollbackFailed,
    DataExists,
    DataMissing,
    OperationNotSupported,
    OperationFailed,
    MalformedMessage,
}

impl ErrorTag {
    pub fn as_str(self) -> &'static str {
        use ErrorTag::*;
        match self {
            InUse => "in-use",
            InvalidValue => "invalid-value",
            TooBig => "too-big",
            MissingAttribute => "missing-attribute",
            BadAttribute => "bad-attribute",
            UnknownAttribute => "unknown-attribute",
            MissingElement => "missing-element",
            BadElement => "bad-element",
            UnknownElement => "unknown-element",
            UnknownNamespace => "unknown-namespace",
            AccessDenied => "access-denied",
            LockDenied => "lock-denied",
            ResourceDenied => "resource-denied",
            RollbackFailed => "rollback-failed",
            DataExists => "data-exists",
            DataMissing => "data-missing",
            OperationNotSupported => "operation-not-supported",
            OperationFailed => "operation-failed",
            MalformedMessage => "malformed-message",
        }
    }
}

/// One error, with everything an rpc-error carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub error_type: ErrorType,
    pub tag: ErrorTag,
    pub app_tag: Option<String>,
    /// A data path (JSON-style module prefixes) of the node concerned.
    pub path: Option<String>,
    pub message: String,
    /// error-info children: (element name, value), e.g. ("session-id", "7").
    pub info: Vec<(String, String)>,
}

impl Error {
    pub fn new(error_type: ErrorType, tag: ErrorTag, message: impl Into<String>) -> Error {
        Error {
            error_type,
            tag,
            app_tag: None,
            path: None,
            message: message.into(),
            info: Vec::new(),
        }
    }

    pub fn protocol(tag: ErrorTag, message: impl Into<String>) -> Error {
        Error::new(ErrorType::Protocol, tag, message)
    }

    pub fn application(tag: ErrorTag, message: impl Into<String>) -> Error {
        Error::new(ErrorType::Application, tag, message)
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Error {
        self.path = Some(path.into());
        self
    }

    pub fn with_app_tag(mut self, tag: impl Into<String>) -> Error {
        self.app_tag = Some(tag.into());
        self
    }

    pub fn with_info(mut self, name: &str, value: impl Into<String>) -> Error {
        self.info.push((name.into(), value.into()));
        self
    }

    /// A libyang error from parsing or validating data, mapped to the error-tag that
    /// RFC 7950 section 15 and RFC 6241 give for it.
    pub fn from_yang(e: &yang5::Error, default_tag: ErrorTag) -> Error {
        let msg = e.msg.clone().unwrap_or_else(|| "invalid data".into());
        let tag = match e.apptag.as_deref() {
            Some("instance-required") | Some("missing-choice") => ErrorTag::DataMissing,
            Some("too-many-elements")
            | Some("too-few-elements")
            | Some("data-not-unique")
            | Some("must-violation") => ErrorTag::OperationFailed,
            _ if msg.contains("Unknown element")
                || msg.contains("not found in")
                || msg.contains("not found as a child") =>
            {
                ErrorTag::UnknownElement
            }
            _ if msg.contains("Unknown XML prefix")
                || msg.contains("namespace") && msg.contains("nknown") =>
            {
                ErrorTag::UnknownNamespace
            }
            _ if msg.starts_with("Mandatory node") => ErrorTag::DataMissing,
            _ if msg.starts_with("Invalid")
                || msg.contains("does not satisfy")
                || msg.contains("Unsatisfied") =>
            {
                ErrorTag::InvalidValue
            }
            _ => default_tag,
        };
        let mut err = Error::application(tag, msg);
        err.app_tag = e.apptag.clone();
        err.path = e.path.clone();
        err
    }
}

impl From<crate::service::Refusal> for Error {
    /// A service's refusal, as the rpc-error a face sends.
    fn from(r: crate::service::Refusal) -> Error {
        use crate::service::Reason;
        let tag = match r.reason {
            Reason::Invalid => ErrorTag::InvalidValue,
            Reason::Missing => ErrorTag::DataMissing,
            Reason::Failed => ErrorTag::OperationFailed,
            Reason::Denied => ErrorTag::AccessDenied,
        };
        let mut e = Error::application(tag, r.message);
        e.path = r.path;
        e.app_tag = r.app_tag.map(str::to_string);
        e
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(p) = &self.path {
            write!(f, " (at {p})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
