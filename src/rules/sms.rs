//! Text messages through a cellular modem, by AT commands in text mode
//! (3GPP TS 27.005: `AT+CMGF=1`, `AT+CMGS`).
//!
//! [`AtDialog`] is the sans-IO core: it is fed what the modem says and
//! answers with what to write next, until the message is handed to the
//! network or refused. [`Modem`] is the driver around it: it opens the serial
//! device for each message (so a modem that was unplugged and came back
//! works), moves the bytes and bounds every answer by a timeout.
//!
//! The dialog:
//!
//! | write | the modem's answer |
//! |---|---|
//! | `AT` | `OK` |
//! | `ATE0` | `OK` (echo off; echoed commands are ignored anyway) |
//! | `AT+CPIN?` | `+CPIN: READY`, `OK` (or `+CPIN: SIM PIN`: `AT+CPIN="<pin>"`, `OK`, then `AT+CPIN?` again) |
//! | `AT+CMGF=1` | `OK` |
//! | `AT+CMGS="<to>"` | the prompt `> ` (no line end after it) |
//! | the text, Ctrl-Z | `+CMGS: <reference>`, `OK` |
//!
//! `ERROR`, `+CMS ERROR: n` and `+CME ERROR: n` fail the dialog with the
//! code. Lines that answer nothing (echoed commands, unsolicited result codes
//! such as `RING`, `+CMTI: ...` or `^BOOT: ...`) are ignored. Lines end in
//! CR, LF or CRLF; a line longer than [`MAX_LINE`] bytes fails the dialog, so
//! whatever the modem sends, memory stays bounded.
//!
//! Texts: a message is one SMS of at most [`MAX_TEXT`] characters; a longer
//! text is cut, not split into a concatenated message. Only characters that
//! are the same byte in ASCII and in the GSM 7-bit default alphabet are sent
//! as they are (letters, digits, space and `!"#%&'()*+,-./:;<=>?`); control
//! characters (line ends, tabs, Ctrl-Z, ESC, ...) become spaces so the text
//! is one line and cannot end or abort the message early; brackets become
//! parentheses, `\` and `|` a slash, `_` and `~` a dash, `` ` `` and `^` an
//! apostrophe; anything else (`@`, `$`, accented letters, ...) a `?`.
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::ports::serial::{self, Device, Flow, Opener, Parity, Settings, TtyOpener};

/// The longest text sent: one SMS of GSM 7-bit characters.
pub const MAX_TEXT: usize = 160;
/// The longest line accepted from the modem, in bytes.
pub const MAX_LINE: usize = 1024;

const CTRL_Z: u8 = 0x1A;
const ESC: u8 = 0x1B;

/// Where a dialog is: the command whose answer it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// `AT`.
    Attention,
    /// `ATE0`.
    EchoOff,
    /// `AT+CPIN?`.
    PinQuery,
    /// `AT+CPIN="<pin>"`.
    PinEntry,
    /// `AT+CMGF=1`.
    TextMode,
    /// `AT+CMGS="<to>"`, waiting for the `> ` prompt.
    Recipient,
    /// The text and Ctrl-Z, waiting for `+CMGS: <reference>` and `OK`.
    Text,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Attention => "AT",
            Stage::EchoOff => "ATE0 (echo off)",
            Stage::PinQuery => "AT+CPIN? (SIM state)",
            Stage::PinEntry => "AT+CPIN (PIN entry)",
            Stage::TextMode => "AT+CMGF=1 (text mode)",
            Stage::Recipient => "AT+CMGS (the recipient)",
            Stage::Text => "the message text (its submission to the network)",
        })
    }
}

/// A modem's refusal of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A bare `ERROR` (or a vendor's `COMMAND NOT SUPPORT`).
    Error,
    /// `+CMS ERROR: n`, a message service failure (TS 27.005 §3.2.5): the
    /// code, and its meaning (or the modem's own words where it answers in
    /// words, after `AT+CMEE=2`).
    Cms { code: Option<u16>, text: String },
    /// `+CME ERROR: n`, a mobile equipment failure (TS 27.007 §9.2).
    Cme { code: Option<u16>, text: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, code, text) = match self {
            Refusal::Error => return f.write_str("ERROR"),
            Refusal::Cms { code, text } => ("+CMS ERROR", code, text),
            Refusal::Cme { code, text } => ("+CME ERROR", code, text),
        };
        match (code, text.is_empty()) {
            (Some(c), true) => write!(f, "{kind} {c}"),
            (Some(c), false) => write!(f, "{kind} {c} ({text})"),
            (None, _) => write!(f, "{kind}: {text}"),
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("{number:?} is not a phone number (an optional + and 3 to 20 digits)")]
    BadNumber { number: String },
    #[error("the SIM PIN must be 4 to 8 digits")]
    BadPin,
    #[error("cannot open the modem {}: {source}", device.display())]
    Open {
        device: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading or writing the modem failed: {0}")]
    Io(#[from] io::Error),
    #[error("the modem's line closed")]
    Closed,
    #[error("the modem did not answer {step} in time")]
    Timeout { step: Stage },
    #[error("the modem refused {step}: {refusal}")]
    Modem { step: Stage, refusal: Refusal },
    #[error("the modem gave an unexpected answer to {step}: {reply:?}")]
    Unexpected { step: Stage, reply: String },
    #[error("the SIM wants a PIN and none is configured")]
    PinRequired,
    #[error(
        "the SIM refused the configured PIN; it is not entered again until the PIN is \
         reconfigured, lest the SIM lock itself (it would then need its PUK)"
    )]
    PinRejected,
    #[error("the SIM is locked ({state}) and needs an operator")]
    SimLocked { state: String },
    #[error("the modem sent a line longer than {limit} bytes")]
    LineTooLong { limit: usize },
}

/// What to do after [`AtDialog::feed`].
#[derive(Debug)]
pub enum Step {
    /// Write these bytes to the modem, then read on.
    Write(Vec<u8>),
    /// Read on.
    Wait,
    /// The network took the message; its reference, if the modem gave one.
    Done { reference: Option<u32> },
    /// The message was not sent.
    Failed(SmsError),
}

/// The sans-IO dialog that sends one message (see the module's table).
///
/// Bytes are fed as they come, split anywhere. Whatever follows, in the same
/// [`feed`](AtDialog::feed), the line that made the dialog write a command
/// was said before that command was written, so it cannot answer it: it is
/// only read for where its lines end. After `Done` or `Failed` every feed
/// returns `Wait`.
#[derive(Debug)]
pub struct AtDialog {
    to: String,
    text: Vec<u8>,
    pin: Option<String>,
    stage: Stage,
    /// The last command written, without its CR, to know its echo.
    sent: Vec<u8>,
    /// The line being received.
    line: Vec<u8>,
    /// The `+CPIN:` state in the answer being received.
    cpin: Option<Vec<u8>>,
    pin_entered: bool,
    reference: Option<u32>,
    /// The modem echoed a command after `ATE0`: it will echo the text too.
    echoes: bool,
    text_echoed: bool,
    over: bool,
}

fn is_number(to: &str) -> bool {
    let digits = to.strip_prefix('+').unwrap_or(to);
    (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_pin(pin: &str) -> bool {
    (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

/// One character as it is sent (see the module's notes).
fn gsm_safe(c: char) -> u8 {
    match c {
        'A'..='Z'
        | 'a'..='z'
        | '0'..='9'
        | ' '
        | '!'
        | '"'
        | '#'
        | '%'
        | '&'
        | '\''
        | '('
        | ')'
        | '*'
        | '+'
        | ','
        | '-'
        | '.'
        | '/'
        | ':'
        | ';'
        | '<'
        | '='
        | '>'
        | '?' => c as u8,
        '[' | '{' => b'(',
        ']' | '}' => b')',
        '\\' | '|' => b'/',
        '_' | '~' => b'-',
        '`' | '^' => b'\'',
        c if c.is_control() || c.is_whitespace() => b' ',
        _ => b'?',
    }
}

/// A text as it is sent: GSM-safe characters only, at most [`MAX_TEXT`].
pub fn gsm_text(text: &str) -> Vec<u8> {
    text.chars().take(MAX_TEXT).map(gsm_safe).collect()
}

fn trim(mut b: &[u8]) -> &[u8] {
    let blank = |c: &u8| c.is_ascii_whitespace() || *c == 0;
    while let [first, rest @ ..] = b
        && blank(first)
    {
        b = rest;
    }
    while let [rest @ .., last] = b
        && blank(last)
    {
        b = rest;
    }
    b
}

/// A modem's words, fit for a log line: printable, at most 100 characters.
fn words(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect()
}

fn cms_meaning(code: u16) -> &'static str {
    match code {
        1 => "unassigned number",
        8 => "operator determined barring",
        10 => "call barred",
        21 => "short message transfer rejected",
        27 => "destination out of service",
        28 => "unidentified subscriber",
        29 => "facility rejected",
        30 => "unknown subscriber",
        38 => "network out of order",
        41 => "temporary failure",
        42 => "congestion",
        47 => "resources unavailable",
        50 => "requested facility not subscribed",
        69 => "requested facility not implemented",
        96 => "invalid mandatory information",
        111 => "protocol error",
        300 => "ME failure",
        301 => "SMS service of ME reserved",
        302 => "operation not allowed",
        303 => "operation not supported",
        304 => "invalid PDU mode parameter",
        305 => "invalid text mode parameter",
        310 => "SIM not inserted",
        311 => "SIM PIN required",
        312 => "PH-SIM PIN required",
        313 => "SIM failure",
        314 => "SIM busy",
        315 => "SIM wrong",
        316 => "SIM PUK required",
        320 => "memory failure",
        322 => "memory full",
        330 => "SMSC address unknown",
        331 => "no network service",
        332 => "network timeout",
        500 => "unknown error",
        _ => "",
    }
}

fn cme_meaning(code: u16) -> &'static str {
    match code {
        0 => "phone failure",
        3 => "operation not allowed",
        4 => "operation not supported",
        5 => "PH-SIM PIN required",
        10 => "SIM not inserted",
        11 => "SIM PIN required",
        12 => "SIM PUK required",
        13 => "SIM failure",
        14 => "SIM busy",
        15 => "SIM wrong",
        16 => "incorrect password",
        17 => "SIM PIN2 required",
        18 => "SIM PUK2 required",
        20 => "memory full",
        24 => "text string too long",
        25 => "invalid characters in text string",
        26 => "dial string too long",
        27 => "invalid characters in dial string",
        30 => "no network service",
        31 => "network timeout",
        32 => "network not allowed, emergency calls only",
        100 => "unknown",
        _ => "",
    }
}

/// The code of a `+CMS ERROR:` or `+CME ERROR:` and its meaning.
fn code(rest: &[u8], meaning: fn(u16) -> &'static str) -> (Option<u16>, String) {
    let rest = trim(rest);
    match std::str::from_utf8(rest).ok().and_then(|s| s.parse().ok()) {
        Some(n) => (Some(n), meaning(n).to_string()),
        None => (None, words(rest)),
    }
}

fn refusal(line: &[u8]) -> Option<Refusal> {
    if line == b"ERROR" || line == b"COMMAND NOT SUPPORT" {
        Some(Refusal::Error)
    } else if let Some(rest) = line.strip_prefix(b"+CMS ERROR:") {
        let (code, text) = code(rest, cms_meaning);
        Some(Refusal::Cms { code, text })
    } else if let Some(rest) = line.strip_prefix(b"+CME ERROR:") {
        let (code, text) = code(rest, cme_meaning);
        Some(Refusal::Cme { code, text })
    } else {
        None
    }
}

/// The message reference of `+CMGS: <mr>[,<scts>]`.
fn reference(rest: &[u8]) -> Option<u32> {
    let rest = trim(rest);
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
}

impl AtDialog {
    /// A dialog that sends `text` (made GSM-safe and cut to [`MAX_TEXT`]) to
    /// the number `to`, entering `pin` if the SIM asks for one.
    pub fn new(to: &str, text: &str, pin: Option<&str>) -> Result<AtDialog, SmsError> {
        if !is_number(to) {
            return Err(SmsError::BadNumber {
                number: to.chars().take(40).collect(),
            });
        }
        if pin.is_some_and(|p| !is_pin(p)) {
            return Err(SmsError::BadPin);
        }
        Ok(AtDialog {
            to: to.to_string(),
            text: gsm_text(text),
            pin: pin.map(str::to_string),
            stage: Stage::Attention,
            sent: b"AT".to_vec(),
            line: Vec::new(),
            cpin: None,
            pin_entered: false,
            reference: None,
            echoes: false,
            text_echoed: false,
            over: false,
        })
    }

    /// The bytes to write first.
    pub fn start(&self) -> Vec<u8> {
        b"AT\r".to_vec()
    }

    /// The command whose answer the dialog waits for (or last waited for).
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The text as it is sent.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// What the modem said next; see [`Step`].
    pub fn feed(&mut self, bytes: &[u8]) -> Step {
        let mut out = Step::Wait;
        for &b in bytes {
            if self.over {
                break;
            }
            let stale = !matches!(out, Step::Wait);
            if let Some(step) = self.byte(b, stale) {
                if matches!(step, Step::Done { .. } | Step::Failed(_)) {
                    self.over = true;
                }
                out = step;
            }
        }
        out
    }

    fn byte(&mut self, b: u8, stale: bool) -> Option<Step> {
        if b == b'\r' || b == b'\n' {
            if self.line.is_empty() {
                return None;
            }
            let mut line = std::mem::take(&mut self.line);
            let step = if stale { None } else { self.answer(&line) };
            line.clear();
            self.line = line;
            return step;
        }
        if self.line.len() >= MAX_LINE {
            return Some(Step::Failed(SmsError::LineTooLong { limit: MAX_LINE }));
        }
        self.line.push(b);
        if !stale && self.stage == Stage::Recipient && self.line == b"> " {
            self.line.clear();
            self.stage = Stage::Text;
            self.sent.clear();
            let mut text = self.text.clone();
            text.push(CTRL_Z);
            return Some(Step::Write(text));
        }
        None
    }

    fn command(&mut self, stage: Stage, command: Vec<u8>) -> Step {
        self.stage = stage;
        self.sent = command;
        let mut bytes = self.sent.clone();
        bytes.push(b'\r');
        Step::Write(bytes)
    }

    /// Is `line` the modem's echo of the text (and the Ctrl-Z)?
    fn is_text_echo(&self, line: &[u8]) -> bool {
        let line = trim(line.strip_suffix(&[CTRL_Z]).unwrap_or(line));
        let line = line.strip_prefix(b">").map(trim).unwrap_or(line);
        line == trim(&self.text)
    }

    /// A whole line from the modem.
    fn answer(&mut self, line: &[u8]) -> Option<Step> {
        let line = trim(line);
        if line.is_empty() {
            return None;
        }
        if line == self.sent.as_slice() {
            if self.stage > Stage::EchoOff {
                self.echoes = true;
            }
            return None;
        }
        if self.stage == Stage::Text && self.echoes && !self.text_echoed && self.is_text_echo(line)
        {
            self.text_echoed = true;
            return None;
        }
        if let Some(refusal) = refusal(line) {
            let pin_refused = matches!(
                refusal,
                Refusal::Error | Refusal::Cme { code: Some(16), .. }
            );
            return Some(Step::Failed(
                if self.stage == Stage::PinEntry && pin_refused {
                    SmsError::PinRejected
                } else {
                    SmsError::Modem {
                        step: self.stage,
                        refusal,
                    }
                },
            ));
        }
        let ok = line == b"OK";
        match self.stage {
            Stage::Attention if ok => Some(self.command(Stage::EchoOff, b"ATE0".to_vec())),
            Stage::EchoOff if ok => Some(self.command(Stage::PinQuery, b"AT+CPIN?".to_vec())),
            Stage::PinQuery => {
                if let Some(state) = line.strip_prefix(b"+CPIN:") {
                    let state = trim(state);
                    let state = state
                        .strip_prefix(b"\"")
                        .and_then(|s| s.strip_suffix(b"\""))
                        .unwrap_or(state);
                    self.cpin = Some(state.to_vec());
                    None
                } else if ok {
                    // An OK with no state before it answers an earlier
                    // command (a text entry aborted by a previous send).
                    self.cpin.take().map(|state| self.sim_state(&state))
                } else {
                    None
                }
            }
            Stage::PinEntry if ok => {
                self.pin_entered = true;
                Some(self.command(Stage::PinQuery, b"AT+CPIN?".to_vec()))
            }
            Stage::TextMode if ok => {
                let command = format!("AT+CMGS=\"{}\"", self.to).into_bytes();
                Some(self.command(Stage::Recipient, command))
            }
            Stage::Recipient if ok => Some(Step::Failed(SmsError::Unexpected {
                step: Stage::Recipient,
                reply: "OK without the text prompt".into(),
            })),
            Stage::Text => {
                if let Some(rest) = line.strip_prefix(b"+CMGS:") {
                    self.reference = reference(rest);
                    None
                } else if ok {
                    Some(Step::Done {
                        reference: self.reference,
                    })
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The answer to `AT+CPIN?`.
    fn sim_state(&mut self, state: &[u8]) -> Step {
        match state {
            b"READY" => self.command(Stage::TextMode, b"AT+CMGF=1".to_vec()),
            b"SIM PIN" if self.pin_entered => Step::Failed(SmsError::PinRejected),
            b"SIM PIN" => match &self.pin {
                Some(pin) => {
                    let command = format!("AT+CPIN=\"{pin}\"").into_bytes();
                    self.command(Stage::PinEntry, command)
                }
                None => Step::Failed(SmsError::PinRequired),
            },
            other => Step::Failed(SmsError::SimLocked {
                state: words(other),
            }),
        }
    }
}

/// A cellular modem that sends text messages. Clones share the modem: their
/// sends take turns, one dialog at a time.
#[derive(Clone)]
pub struct Modem {
    inner: Arc<Inner>,
}

struct Inner {
    device: PathBuf,
    settings: Settings,
    pin: Option<String>,
    timeout: Duration,
    opener: Arc<dyn Opener>,
    line: tokio::sync::Mutex<LineState>,
}

#[derive(Default)]
struct LineState {
    /// The SIM refused the PIN: entering it again could lock the SIM.
    pin_rejected: bool,
    /// A dialog did not finish (its send was cancelled): the modem may still
    /// be taking text.
    unfinished: bool,
}

impl fmt::Debug for Modem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Modem")
            .field("device", &self.inner.device)
            .field("speed", &self.inner.settings.baud)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Modem {
    /// The modem on serial `device` at `speed` (8 data bits, no parity, one
    /// stop bit, no flow control); `timeout` bounds each command's answer
    /// (the last one includes the network's acceptance of the message).
    pub fn new(device: PathBuf, speed: u32, pin: Option<String>, timeout: Duration) -> Modem {
        Modem::with_opener(Arc::new(TtyOpener), device, speed, pin, timeout)
    }

    /// The same, with devices opened by `opener`.
    pub fn with_opener(
        opener: Arc<dyn Opener>,
        device: PathBuf,
        speed: u32,
        pin: Option<String>,
        timeout: Duration,
    ) -> Modem {
        let settings = Settings {
            baud: speed,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
            flow: Flow::None,
        };
        Modem {
            inner: Arc::new(Inner {
                device,
                settings,
                pin,
                timeout,
                opener,
                line: tokio::sync::Mutex::new(LineState::default()),
            }),
        }
    }

    pub fn device(&self) -> &Path {
        &self.inner.device
    }

    /// Sends `text` to the number `to`: the message reference the modem gave,
    /// if any. Waits for any send already under way on this modem.
    pub async fn send(&self, to: &str, text: &str) -> Result<Option<u32>, SmsError> {
        let mut state = self.inner.line.lock().await;
        let mut dialog = AtDialog::new(to, text, self.inner.pin.as_deref())?;
        if state.pin_rejected {
            return Err(SmsError::PinRejected);
        }
        let i = &*self.inner;
        let dev = i
            .opener
            .open(&i.device, &i.settings)
            .map_err(|source| SmsError::Open {
                device: i.device.clone(),
                source,
            })?;
        if state.unfinished {
            // ESC ends a text entry left open; its OK is flushed with the rest.
            let _ = tokio::time::timeout(i.timeout, serial::write_all(&*dev, &[ESC])).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = dev.purge(true, false);
        state.unfinished = true;
        let result = converse(&*dev, &mut dialog, i.timeout).await;
        if result.is_err() && dialog.stage() >= Stage::Recipient {
            // Leave the text entry, so the next send's AT is not taken as text.
            let _ = tokio::time::timeout(i.timeout, serial::write_all(&*dev, &[ESC])).await;
        }
        state.unfinished = false;
        if matches!(result, Err(SmsError::PinRejected)) {
            state.pin_rejected = true;
        }
        result
    }
}

async fn write(
    dev: &dyn Device,
    bytes: &[u8],
    deadline: Instant,
    step: Stage,
) -> Result<(), SmsError> {
    tokio::time::timeout_at(deadline, serial::write_all(dev, bytes))
        .await
        .map_err(|_| SmsError::Timeout { step })??;
    Ok(())
}

/// Runs `dialog` over `dev`; each command's answer has `timeout`.
async fn converse(
    dev: &dyn Device,
    dialog: &mut AtDialog,
    timeout: Duration,
) -> Result<Option<u32>, SmsError> {
    let mut deadline = Instant::now() + timeout;
    write(dev, &dialog.start(), deadline, dialog.stage()).await?;
    let mut buf = [0u8; 512];
    loop {
        let n = tokio::time::timeout_at(deadline, serial::read(dev, &mut buf))
            .await
            .map_err(|_| SmsError::Timeout {
                step: dialog.stage(),
            })??;
        if n == 0 {
            return Err(SmsError::Closed);
        }
        match dialog.feed(&buf[..n]) {
            Step::Wait => {}
            Step::Write(bytes) => {
                deadline = Instant::now() + timeout;
                write(dev, &bytes, deadline, dialog.stage()).await?;
            }
            Step::Done { reference } => return Ok(reference),
            Step::Failed(e) => return Err(e),
        }
    }
}

/// Entry point of the `rules_at` fuzz target (`fuzz/`), also run over its
/// seed corpus by the unit tests: whatever a modem says, in whatever pieces,
/// the dialog ends or waits, never panics, and stays bounded.
///
/// The first byte picks the pieces and the PIN: with bit 7 set, the rest is
/// split at each 0xFF (a seed is a transcript, one answer a piece); else into
/// pieces of `1 + (byte & 0x1F)` bytes. Bit 6 configures PIN 1234.
pub fn fuzz(data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let pin = (mode & 0x40 != 0).then_some("1234");
    let text = "Port 7 down: \x1a\x1b\r\n[ok] ~caf\u{e9}~ \x00 end";
    let Ok(mut dialog) = AtDialog::new("+4915112345678", text, pin) else {
        unreachable!("a valid number and PIN");
    };
    let pieces: Box<dyn Iterator<Item = &[u8]>> = if mode & 0x80 != 0 {
        Box::new(data.split(|&b| b == 0xFF))
    } else {
        Box::new(data.chunks(usize::from(mode & 0x1F) + 1))
    };
    let mut writes = 0;
    let mut over = false;
    for piece in pieces {
        let step = dialog.feed(piece);
        assert!(dialog.line.len() <= MAX_LINE);
        match step {
            Step::Write(bytes) => {
                assert!(!over, "a write after the end");
                writes += 1;
                // AT, ATE0, AT+CPIN? twice, the PIN, CMGF, CMGS, the text.
                assert!(writes <= 8);
                if dialog.stage() == Stage::Text {
                    let (last, text) = bytes.split_last().expect("the text and Ctrl-Z");
                    assert_eq!(*last, CTRL_Z);
                    assert!(text.len() <= MAX_TEXT);
                    assert!(text.iter().all(|b| (0x20..0x7F).contains(b)));
                } else {
                    assert_eq!(bytes.last(), Some(&b'\r'));
                    assert!(bytes.len() < 64);
                }
            }
            Step::Wait => {}
            Step::Done { .. } | Step::Failed(_) => {
                assert!(!over, "a second end");
                over = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::serial::Tty;

    /// A modem model for the dialog: answers each command, echoing it while
    /// echo is on, with unsolicited codes between answers.
    struct FakeModem {
        echo: bool,
        /// Echo goes off at ATE0 (some modems ignore it).
        obeys_ate0: bool,
        pin: Option<&'static str>,
        unlocked: bool,
        in_text: bool,
        texts: Vec<Vec<u8>>,
        cmgs_answer: &'static [u8],
        /// How many command lines and texts it was written.
        heard: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl FakeModem {
        fn new() -> FakeModem {
            FakeModem {
                echo: true,
                obeys_ate0: true,
                pin: None,
                unlocked: true,
                in_text: false,
                texts: Vec::new(),
                cmgs_answer: b"\r\n+CMGS: 7\r\n\r\nOK\r\n",
                heard: Arc::default(),
            }
        }

        fn answer(&mut self, written: &[u8]) -> Vec<u8> {
            self.heard
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut out = Vec::new();
            if self.in_text {
                let (text, end) = written.split_at(written.len() - 1);
                assert_eq!(end, [CTRL_Z]);
                if self.echo {
                    // The text, not the Ctrl-Z (as some modems do).
                    out.extend_from_slice(text);
                }
                self.texts.push(text.to_vec());
                self.in_text = false;
                out.extend_from_slice(b"\r\n+CMTI: \"SM\",3\r\n");
                out.extend_from_slice(self.cmgs_answer);
                return out;
            }
            let command = written.strip_suffix(b"\r").expect("a command line");
            if self.echo {
                out.extend_from_slice(written);
            }
            let command = std::str::from_utf8(command).unwrap();
            match command {
                "AT" => out.extend_from_slice(b"\r\nOK\r\n"),
                "ATE0" => {
                    self.echo &= !self.obeys_ate0;
                    out.extend_from_slice(b"\r\nOK\r\n\r\nRING\r\n");
                }
                "AT+CPIN?" if self.unlocked => {
                    out.extend_from_slice(b"\r\n+CPIN: READY\r\n\r\nOK\r\n")
                }
                "AT+CPIN?" => out.extend_from_slice(b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"),
                c if c.starts_with("AT+CPIN=") => {
                    if Some(&c[9..c.len() - 1]) == self.pin {
                        self.unlocked = true;
                        out.extend_from_slice(b"\r\nOK\r\n^SIMST: 1\r\n");
                    } else {
                        out.extend_from_slice(b"\r\n+CME ERROR: 16\r\n");
                    }
                }
                "AT+CMGF=1" => out.extend_from_slice(b"\r\n^BOOT:1,0,0,0,0\r\nOK\r\n"),
                c if c.starts_with("AT+CMGS=\"") => {
                    self.in_text = true;
                    out.extend_from_slice(b"\r\n> ");
                }
                other => panic!("unexpected command {other:?}"),
            }
            out
        }
    }

    /// Runs a dialog against `modem`, its answers fed in pieces of `piece`
    /// bytes: the commands written and the end.
    fn converse(
        dialog: &mut AtDialog,
        modem: &mut FakeModem,
        piece: usize,
    ) -> (Vec<Vec<u8>>, Step) {
        let mut writes = vec![dialog.start()];
        let mut answer = modem.answer(&writes[0]);
        loop {
            let mut next = None;
            for chunk in answer.chunks(piece) {
                match dialog.feed(chunk) {
                    Step::Wait => {}
                    Step::Write(bytes) => {
                        assert!(next.is_none(), "two writes for one answer");
                        next = Some(bytes);
                    }
                    end => return (writes, end),
                }
            }
            let bytes = next.expect("the dialog stalled");
            answer = modem.answer(&bytes);
            writes.push(bytes);
        }
    }

    fn lines(writes: &[Vec<u8>]) -> Vec<String> {
        writes
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    }

    #[test]
    fn a_message_goes_through_echo_and_unsolicited_codes_in_any_pieces() {
        for piece in 1..=40 {
            let mut modem = FakeModem::new();
            let mut d = AtDialog::new("+4915112345678", "Port 7 is down", None).unwrap();
            let (writes, end) = converse(&mut d, &mut modem, piece);
            assert!(
                matches!(end, Step::Done { reference: Some(7) }),
                "{piece}: {end:?}"
            );
            assert_eq!(
                lines(&writes),
                [
                    "AT\r",
                    "ATE0\r",
                    "AT+CPIN?\r",
                    "AT+CMGF=1\r",
                    "AT+CMGS=\"+4915112345678\"\r",
                    "Port 7 is down\x1a"
                ]
            );
            assert_eq!(modem.texts, [b"Port 7 is down".to_vec()]);
            assert!(matches!(d.feed(b"\r\nOK\r\n"), Step::Wait));
        }
    }

    #[test]
    fn bytes_split_at_every_point_of_one_answer() {
        // The answer to AT+CPIN? with echo, a URC and CR-only / LF-only ends.
        let answer = b"AT+CPIN?\r\r\n+CMTI: \"SM\",1\n+CPIN: READY\r\rOK\n";
        for at in 0..=answer.len() {
            let mut d = AtDialog::new("123", "x", None).unwrap();
            assert!(matches!(d.feed(b"OK\r\n"), Step::Write(_)));
            assert!(matches!(d.feed(b"OK\r\n"), Step::Write(_)));
            let (a, b) = answer.split_at(at);
            let first = d.feed(a);
            let second = d.feed(b);
            let write = match (first, second) {
                (Step::Write(w), Step::Wait) | (Step::Wait, Step::Write(w)) => w,
                other => panic!("{at}: {other:?}"),
            };
            assert_eq!(write, b"AT+CMGF=1\r");
        }
    }

    #[test]
    fn the_pin_is_entered_when_the_sim_asks() {
        let mut modem = FakeModem::new();
        modem.pin = Some("1234");
        modem.unlocked = false;
        let mut d = AtDialog::new("+4915112345678", "hi", Some("1234")).unwrap();
        let (writes, end) = converse(&mut d, &mut modem, 5);
        assert!(matches!(end, Step::Done { reference: Some(7) }), "{end:?}");
        assert_eq!(
            lines(&writes)[2..5],
            ["AT+CPIN?\r", "AT+CPIN=\"1234\"\r", "AT+CPIN?\r"]
        );
    }

    #[test]
    fn a_sim_that_wants_a_pin_fails_without_one_and_refuses_a_wrong_one() {
        let mut modem = FakeModem::new();
        modem.unlocked = false;
        let mut d = AtDialog::new("+4915112345678", "hi", None).unwrap();
        let (writes, end) = converse(&mut d, &mut modem, 64);
        assert!(
            matches!(end, Step::Failed(SmsError::PinRequired)),
            "{end:?}"
        );
        assert_eq!(writes.len(), 3);
        assert_eq!(
            SmsError::PinRequired.to_string(),
            "the SIM wants a PIN and none is configured"
        );

        let mut modem = FakeModem::new();
        modem.pin = Some("1234");
        modem.unlocked = false;
        let mut d = AtDialog::new("+4915112345678", "hi", Some("9999")).unwrap();
        let (_, end) = converse(&mut d, &mut modem, 64);
        assert!(
            matches!(end, Step::Failed(SmsError::PinRejected)),
            "{end:?}"
        );

        // Still asking for the PIN after it was entered: refused too.
        let mut d = AtDialog::new("123", "x", Some("1234")).unwrap();
        d.feed(b"OK\r\n");
        d.feed(b"OK\r\n");
        d.feed(b"+CPIN: SIM PIN\r\nOK\r\n");
        assert!(matches!(d.feed(b"OK\r\n"), Step::Write(w) if w == b"AT+CPIN?\r"));
        let end = d.feed(b"+CPIN: SIM PIN\r\nOK\r\n");
        assert!(
            matches!(end, Step::Failed(SmsError::PinRejected)),
            "{end:?}"
        );

        let mut d = AtDialog::new("123", "x", Some("1234")).unwrap();
        d.feed(b"OK\r\n");
        d.feed(b"OK\r\n");
        let end = d.feed(b"+CPIN: SIM PUK\r\nOK\r\n");
        assert!(
            matches!(&end, Step::Failed(SmsError::SimLocked { state }) if state == "SIM PUK"),
            "{end:?}"
        );
    }

    #[test]
    fn modem_errors_carry_their_code_and_meaning() {
        let mut modem = FakeModem::new();
        modem.cmgs_answer = b"\r\n+CMS ERROR: 330\r\n";
        let mut d = AtDialog::new("+4915112345678", "hi", None).unwrap();
        let (_, end) = converse(&mut d, &mut modem, 3);
        let Step::Failed(e) = end else {
            panic!("{end:?}")
        };
        assert!(matches!(
            &e,
            SmsError::Modem {
                step: Stage::Text,
                refusal: Refusal::Cms {
                    code: Some(330),
                    ..
                }
            }
        ));
        assert_eq!(
            e.to_string(),
            "the modem refused the message text (its submission to the network): \
             +CMS ERROR 330 (SMSC address unknown)"
        );

        let mut d = AtDialog::new("123", "x", None).unwrap();
        d.feed(b"OK\r\n");
        d.feed(b"OK\r\n");
        let end = d.feed(b"\r\n+CME ERROR: SIM not inserted\r\n");
        assert!(
            matches!(&end, Step::Failed(SmsError::Modem { step: Stage::PinQuery, refusal: Refusal::Cme { code: None, text } }) if text == "SIM not inserted"),
            "{end:?}"
        );

        let mut d = AtDialog::new("123", "x", None).unwrap();
        let end = d.feed(b"AT\r\r\nERROR\r\n");
        assert!(
            matches!(
                end,
                Step::Failed(SmsError::Modem {
                    step: Stage::Attention,
                    refusal: Refusal::Error
                })
            ),
            "{end:?}"
        );
    }

    #[test]
    fn a_text_that_looks_like_an_answer_is_not_taken_for_one() {
        for obeys_ate0 in [true, false] {
            for text in ["OK", "ERROR", "+CMGS: 99", "> OK"] {
                let mut modem = FakeModem::new();
                modem.obeys_ate0 = obeys_ate0;
                let mut d = AtDialog::new("+4915112345678", text, None).unwrap();
                let (_, end) = converse(&mut d, &mut modem, 7);
                assert!(
                    matches!(end, Step::Done { reference: Some(7) }),
                    "{obeys_ate0} {text}: {end:?}"
                );
            }
        }
    }

    #[test]
    fn texts_are_made_gsm_safe_and_cut() {
        assert_eq!(
            gsm_text("a\x1ab\x1bc\r\nd\te\x00f"),
            b"a b c  d e f".to_vec()
        );
        assert_eq!(gsm_text("[x]{y}_~`^\\|"), b"(x)(y)--''//".to_vec());
        assert_eq!(gsm_text("caf\u{e9} @ $5 \u{20ac}"), b"caf? ? ?5 ?".to_vec());
        let long = "0123456789".repeat(30);
        assert_eq!(gsm_text(&long), long.as_bytes()[..MAX_TEXT].to_vec());
        assert_eq!(gsm_text(&"\u{e9}".repeat(200)).len(), MAX_TEXT);

        let mut modem = FakeModem::new();
        let mut d = AtDialog::new("+4915112345678", "end\x1a AT+CMGS\x1b!", None).unwrap();
        let (writes, end) = converse(&mut d, &mut modem, 9);
        assert!(matches!(end, Step::Done { .. }));
        assert_eq!(writes.last().unwrap(), b"end  AT+CMGS !\x1a");
    }

    #[test]
    fn numbers_and_pins_are_checked() {
        for bad in [
            "",
            "12",
            "+",
            "+49 151",
            "123\";ATD",
            "1".repeat(21).as_str(),
        ] {
            assert!(
                matches!(
                    AtDialog::new(bad, "x", None),
                    Err(SmsError::BadNumber { .. })
                ),
                "{bad}"
            );
        }
        assert!(AtDialog::new("112", "x", None).is_ok());
        assert!(matches!(
            AtDialog::new("112", "x", Some("12\"4")),
            Err(SmsError::BadPin)
        ));
    }

    #[test]
    fn a_line_without_end_is_bounded() {
        let mut d = AtDialog::new("123", "x", None).unwrap();
        let noise = vec![b'A'; MAX_LINE];
        assert!(matches!(d.feed(&noise), Step::Wait));
        let end = d.feed(b"A");
        assert!(
            matches!(end, Step::Failed(SmsError::LineTooLong { limit: MAX_LINE })),
            "{end:?}"
        );
        // A long line that ends is only a line.
        let mut d = AtDialog::new("123", "x", None).unwrap();
        assert!(matches!(d.feed(&noise), Step::Wait));
        assert!(matches!(d.feed(b"\r\nOK\r\n"), Step::Write(_)));
    }

    #[test]
    fn seed_corpus_runs_clean_and_reaches_the_end() {
        for input in crate::seed_corpus("rules_at") {
            fuzz(&input);
        }
        let seed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rules_at/echo_urc"),
        )
        .unwrap();
        let mut d = AtDialog::new("+4915112345678", "x", None).unwrap();
        let mut end = None;
        for piece in seed[1..].split(|&b| b == 0xFF) {
            if let s @ (Step::Done { .. } | Step::Failed(_)) = d.feed(piece) {
                end = Some(s);
            }
        }
        assert!(
            matches!(end, Some(Step::Done { reference: Some(7) })),
            "{end:?}"
        );
    }

    /// Plays a modem on a pty master: answers like `FakeModem`, the text
    /// read up to Ctrl-Z. Returns the texts it was sent, and the master (were
    /// it closed, the slave would hang up before the last answer is read).
    async fn play(master: Tty, mut modem: FakeModem, messages: usize) -> (Vec<Vec<u8>>, Tty) {
        let mut pending = Vec::new();
        let mut buf = [0u8; 256];
        while modem.texts.len() < messages {
            let n = serial::read(&master, &mut buf).await.unwrap();
            pending.extend_from_slice(&buf[..n]);
            loop {
                let end = if modem.in_text {
                    pending.iter().position(|&b| b == CTRL_Z)
                } else {
                    pending.iter().position(|&b| b == b'\r')
                };
                let Some(end) = end else { break };
                let written: Vec<u8> = pending.drain(..=end).collect();
                let answer = modem.answer(&written);
                serial::write_all(&master, &answer).await.unwrap();
            }
        }
        (modem.texts, master)
    }

    #[tokio::test]
    async fn a_modem_on_a_pty_takes_messages_one_at_a_time() {
        let (master, _slave, path) = crate::ports::sim::pty_pair().unwrap();
        let master = Tty::from_fd(master).unwrap();
        let modem = tokio::spawn(play(master, FakeModem::new(), 2));
        let m = Modem::new(path, 115_200, None, Duration::from_secs(10));
        let m2 = m.clone();
        let (a, b) = tokio::join!(
            m.send("+4915112345678", "Port 7 is down"),
            m2.send("+4915112345678", "Port 7 is up")
        );
        assert_eq!(a.unwrap(), Some(7));
        assert_eq!(b.unwrap(), Some(7));
        let (mut texts, _master) = modem.await.unwrap();
        texts.sort();
        assert_eq!(
            texts,
            [b"Port 7 is down".to_vec(), b"Port 7 is up".to_vec()]
        );
    }

    #[tokio::test]
    async fn a_refused_pin_is_not_entered_again() {
        let (master, _slave, path) = crate::ports::sim::pty_pair().unwrap();
        let master = Tty::from_fd(master).unwrap();
        let mut fake = FakeModem::new();
        fake.pin = Some("1234");
        fake.unlocked = false;
        let heard = fake.heard.clone();
        let modem = tokio::spawn(play(master, fake, 1));
        let m = Modem::new(path, 115_200, Some("9999".into()), Duration::from_secs(10));
        let e = m.send("+4915112345678", "hello").await.unwrap_err();
        assert!(matches!(e, SmsError::PinRejected), "{e:?}");
        // AT, ATE0, AT+CPIN?, AT+CPIN="9999".
        assert_eq!(heard.load(std::sync::atomic::Ordering::Relaxed), 4);
        let e = m.clone().send("+4915112345678", "hello").await.unwrap_err();
        assert!(matches!(e, SmsError::PinRejected), "{e:?}");
        assert_eq!(heard.load(std::sync::atomic::Ordering::Relaxed), 4);
        modem.abort();
    }

    #[tokio::test]
    async fn a_silent_modem_times_out_and_a_missing_one_fails_to_open() {
        let (_master, _slave, path) = crate::ports::sim::pty_pair().unwrap();
        let m = Modem::new(path, 115_200, None, Duration::from_millis(300));
        let e = m.send("+4915112345678", "hello").await.unwrap_err();
        assert!(
            matches!(
                e,
                SmsError::Timeout {
                    step: Stage::Attention
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "the modem did not answer AT in time");

        let m = Modem::new(
            "/nonexistent/ttyUSB9".into(),
            115_200,
            None,
            Duration::from_secs(1),
        );
        let e = m.send("+4915112345678", "hello").await.unwrap_err();
        assert!(matches!(e, SmsError::Open { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("cannot open the modem /nonexistent/ttyUSB9: ")
        );
    }
}
