//! The CLI on an SSH channel: interactive with a pty, a script on standard input
//! without one, or one command given to `ssh host 'command'`.
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::line::{Editor, Event};
use super::{Cli, Outcome, apply_completion, format_help};

/// On a pty the client's terminal is raw: line ends must be CR LF.
fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

pub async fn interactive<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: S,
    mut cli: Cli,
    idle: Option<std::time::Duration>,
) -> u32 {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut ed = Editor::new();
    let mut buf = [0u8; 4096];
    let welcome = format!("lifeline {} — ? for help\n\n", env!("CARGO_PKG_VERSION"));
    if wr.write_all(&crlf(&welcome)).await.is_err() {
        return 0;
    }
    let mut screen = crlf(&cli.banner());
    screen.extend(ed.render(&cli.prompt()));
    if wr.write_all(&screen).await.is_err() {
        return 0;
    }
    loop {
        let read = rd.read(&mut buf);
        let n = match idle {
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(r) => r,
                Err(_) => {
                    let _ = wr.write_all(b"\r\nidle timeout: session closed\r\n").await;
                    return 0;
                }
            },
            None => read.await,
        };
        let n = match n {
            Ok(0) | Err(_) => return 0,
            Ok(n) => n,
        };
        let mut out = Vec::new();
        for ev in ed.feed(&buf[..n]) {
            match ev {
                Event::Line(line) => {
                    out.extend(b"\r\n");
                    wr.write_all(&out).await.ok();
                    out.clear();
                    match cli.execute(&line).await {
                        Ok(Outcome::Exit) => return 0,
                        Ok(Outcome::Console(target)) => {
                            if !console(&cli, &mut rd, &mut wr, target).await {
                                return 0;
                            }
                        }
                        Ok(Outcome::Output(text)) => out.extend(crlf(&text)),
                        Err(e) => {
                            out.extend(crlf(&format!("{}\n", e.0)));
                            // The line stays for correction.
                            ed.set_line(&line);
                        }
                    }
                    out.extend(crlf(&cli.banner()));
                }
                Event::Complete(prefix) => {
                    let cands = cli.complete(&prefix).await;
                    let (line, unique) = apply_completion(&prefix, &cands);
                    if !unique && cands.len() > 1 && line == prefix {
                        out.extend(b"\r\n");
                        out.extend(crlf(&format_help(&cands)));
                    }
                    ed.set_line(&line);
                }
                Event::Help(prefix) => {
                    let cands = cli.complete(&prefix).await;
                    out.extend(b"?\r\n");
                    out.extend(crlf(&format_help(&cands)));
                }
                Event::Cancel => out.extend(b"^C\r\n"),
                Event::Eof => {
                    wr.write_all(b"\r\n").await.ok();
                    return 0;
                }
            }
        }
        out.extend(ed.render(&cli.prompt()));
        if wr.write_all(&out).await.is_err() {
            return 0;
        }
    }
}

/// Commands from standard input, one a line; the exit status is 1 if any failed.
pub async fn batch<S: AsyncRead + AsyncWrite + Unpin>(stream: S, mut cli: Cli) -> u32 {
    let (rd, mut wr) = tokio::io::split(stream);
    let mut lines = tokio::io::BufReader::new(rd);
    let mut status = 0;
    let mut line = String::new();
    loop {
        line.clear();
        match tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line).await {
            Ok(0) | Err(_) => return status,
            Ok(_) => {}
        }
        let cmd = line.trim();
        if cmd.is_empty() || cmd.starts_with('#') {
            continue;
        }
        match cli.execute(cmd).await {
            Ok(Outcome::Exit) => return status,
            Ok(Outcome::Console(_)) => {
                status = 1;
                let _ = wr.write_all(NEEDS_TERMINAL.as_bytes()).await;
            }
            Ok(Outcome::Output(text)) => {
                if wr.write_all(text.as_bytes()).await.is_err() {
                    return status;
                }
            }
            Err(e) => {
                status = 1;
                let _ = wr.write_all(format!("{cmd}\n{}\n", e.0).as_bytes()).await;
            }
        }
    }
}

/// `ssh host 'command'`: one command line (or several, one per line).
pub async fn exec<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    mut cli: Cli,
    command: &str,
) -> u32 {
    let (_rd, mut wr) = tokio::io::split(stream);
    let mut status = 0;
    for cmd in command.lines().map(str::trim).filter(|c| !c.is_empty()) {
        match cli.execute(cmd).await {
            Ok(Outcome::Exit) => break,
            Ok(Outcome::Console(_)) => {
                status = 1;
                let _ = wr.write_all(NEEDS_TERMINAL.as_bytes()).await;
                break;
            }
            Ok(Outcome::Output(text)) => {
                let _ = wr.write_all(text.as_bytes()).await;
            }
            Err(e) => {
                status = 1;
                let _ = wr.write_all(format!("{}\n", e.0).as_bytes()).await;
                break;
            }
        }
    }
    let _ = wr.flush().await;
    status
}

const NEEDS_TERMINAL: &str = "error: console sessions need a terminal (ssh -t)\n";

/// Hands the terminal to a console session until it ends (`~.`); false when
/// the client went away meanwhile.
async fn console<R, W>(cli: &Cli, rd: &mut R, wr: &mut W, target: Option<String>) -> bool
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    use crate::ports::config::Protocol;
    use crate::ports::console::{Plain, Reader, Term};
    let Some(ports) = cli.ports().cloned() else {
        let _ = wr.write_all(b"no console ports here\r\n").await;
        return true;
    };
    let remote = cli
        .session()
        .source
        .as_deref()
        .and_then(|s| s.parse().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 0));
    let term = Term::new(
        Box::new(Reader::new(&mut *rd)),
        Box::new(Plain(&mut *wr)),
        &cli.session().user,
        remote,
        Protocol::Cli,
    );
    crate::ports::console::interactive(ports, term, target).await
}
