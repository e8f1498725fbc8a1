//! The escape sequence of console sessions: the escape character typed at the
//! start of a line (after CR or LF, or first in the session), then a command
//! key. Everything else passes through untouched, in order.

/// The command keys of the escape menu.
pub const COMMANDS: &[(u8, &str)] = &[
    (b'.', "disconnect"),
    (b'b', "send a serial BREAK"),
    (b'p', "power menu for the port's outlets"),
    (b'h', "recent history from the transcript"),
    (b'm', "back to the port chooser"),
    (b'w', "who is connected"),
    (b'e', "take (or give back) exclusive write access"),
    (b'?', "this help"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Data(Vec<u8>),
    Command(u8),
}

pub struct Escape {
    esc: u8,
    line_start: bool,
    pending: bool,
}

impl Escape {
    pub fn new(esc: u8) -> Escape {
        Escape {
            esc,
            line_start: true,
            pending: false,
        }
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Piece>) {
        let mut data = Vec::new();
        for &b in input {
            if self.pending {
                self.pending = false;
                if b == self.esc {
                    // `~~` is the escape character itself.
                    data.push(b);
                    self.line_start = false;
                } else if COMMANDS.iter().any(|(k, _)| *k == b) {
                    if !data.is_empty() {
                        out.push(Piece::Data(std::mem::take(&mut data)));
                    }
                    out.push(Piece::Command(b));
                    self.line_start = true;
                } else {
                    // Not a command: both characters go through, as in ssh.
                    data.push(self.esc);
                    data.push(b);
                    self.line_start = b == b'\r' || b == b'\n';
                }
                continue;
            }
            if self.line_start && b == self.esc {
                self.pending = true;
                continue;
            }
            data.push(b);
            self.line_start = b == b'\r' || b == b'\n';
        }
        if !data.is_empty() {
            out.push(Piece::Data(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[&[u8]]) -> Vec<Piece> {
        let mut e = Escape::new(b'~');
        let mut out = Vec::new();
        for i in input {
            e.feed(i, &mut out);
        }
        out
    }

    #[test]
    fn commands_only_at_line_start() {
        assert_eq!(run(&[b"~."]), vec![Piece::Command(b'.')]);
        assert_eq!(run(&[b"a~."]), vec![Piece::Data(b"a~.".to_vec())]);
        assert_eq!(
            run(&[b"ls\r~b"]),
            vec![Piece::Data(b"ls\r".to_vec()), Piece::Command(b'b')]
        );
        assert_eq!(run(&[b"~", b"~x"]), vec![Piece::Data(b"~x".to_vec())]);
        assert_eq!(run(&[b"~", b"q"]), vec![Piece::Data(b"~q".to_vec())]);
        assert_eq!(
            run(&[b"~?~h"]),
            vec![Piece::Command(b'?'), Piece::Command(b'h')]
        );
    }
}
