//! A line editor for the CLI over an SSH pty, sans-IO: bytes in, events and
//! screen updates out. Editing, history, Tab completion and `?` help.

/// What the terminal asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Enter: the finished line.
    Line(String),
    /// Tab: complete the line so far.
    Complete(String),
    /// `?`: help for the line so far.
    Help(String),
    /// Ctrl-C: the line was dropped.
    Cancel,
    /// Ctrl-D on an empty line.
    Eof,
}

#[derive(Default)]
pub struct Editor {
    buf: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing history; `history.len()` is the line being typed.
    browse: usize,
    escape: Vec<u8>,
    utf8: Vec<u8>,
}

const HISTORY: usize = 500;

impl Editor {
    pub fn new() -> Editor {
        Editor::default()
    }

    pub fn line(&self) -> String {
        self.buf.iter().collect()
    }

    /// Replaces the line (after a completion, or to keep a failed command).
    pub fn set_line(&mut self, s: &str) {
        self.buf = s.chars().collect();
        self.cursor = self.buf.len();
    }

    /// Redraws the current line after `prompt`.
    pub fn render(&self, prompt: &str) -> Vec<u8> {
        let line = self.line();
        let back = self.buf.len() - self.cursor;
        let mut s = format!("\r{prompt}{line}\x1b[K");
        if back > 0 {
            s.push_str(&format!("\x1b[{back}D"));
        }
        s.into_bytes()
    }

    fn in_quotes(&self) -> bool {
        self.buf[..self.cursor]
            .iter()
            .filter(|c| **c == '"')
            .count()
            % 2
            == 1
    }

    fn push_history(&mut self, line: &str) {
        if !line.trim().is_empty() && self.history.last().map(String::as_str) != Some(line) {
            self.history.push(line.to_string());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        self.browse = self.history.len();
    }

    /// Feeds terminal input; returns the events it completes. The caller redraws
    /// with [`Editor::render`] after each call.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for &b in data {
            if !self.escape.is_empty() {
                self.escape.push(b);
                self.escape_step();
                continue;
            }
            if !self.utf8.is_empty() || b >= 0x80 {
                self.utf8.push(b);
                match std::str::from_utf8(&self.utf8) {
                    Ok(s) => {
                        let c = s.chars().next().unwrap_or('?');
                        self.utf8.clear();
                        self.insert(c);
                    }
                    Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => self.utf8.clear(),
                    Err(_) => {}
                }
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    let line = self.line();
                    self.push_history(&line);
                    self.buf.clear();
                    self.cursor = 0;
                    out.push(Event::Line(line));
                }
                0x7f | 0x08 if self.cursor > 0 => {
                    self.cursor -= 1;
                    self.buf.remove(self.cursor);
                }
                0x03 => {
                    self.buf.clear();
                    self.cursor = 0;
                    self.browse = self.history.len();
                    out.push(Event::Cancel);
                }
                0x04 => {
                    if self.buf.is_empty() {
                        out.push(Event::Eof);
                    } else if self.cursor < self.buf.len() {
                        self.buf.remove(self.cursor);
                    }
                }
                0x01 => self.cursor = 0,
                0x05 => self.cursor = self.buf.len(),
                0x15 => {
                    self.buf.drain(..self.cursor);
                    self.cursor = 0;
                }
                0x17 => self.delete_word(),
                b'\t' => out.push(Event::Complete(self.buf[..self.cursor].iter().collect())),
                b'?' if !self.in_quotes() => {
                    out.push(Event::Help(self.buf[..self.cursor].iter().collect()))
                }
                0x1b => self.escape.push(b),
                0x20..=0x7e => self.insert(b as char),
                _ => {}
            }
        }
        out
    }

    fn insert(&mut self, c: char) {
        self.buf.insert(self.cursor, c);
        self.cursor += 1;
    }

    fn delete_word(&mut self) {
        let mut i = self.cursor;
        while i > 0 && self.buf[i - 1] == ' ' {
            i -= 1;
        }
        while i > 0 && self.buf[i - 1] != ' ' {
            i -= 1;
        }
        self.buf.drain(i..self.cursor);
        self.cursor = i;
    }

    fn escape_step(&mut self) {
        let seq = self.escape.clone();
        if seq.len() < 3 && seq.get(1).is_none_or(|b| *b == b'[' || *b == b'O') {
            if seq.len() == 2 && seq[1] != b'[' && seq[1] != b'O' {
                self.escape.clear();
            }
            return;
        }
        let Some(&last) = seq.last() else { return };
        if !(0x40..=0x7e).contains(&last) && seq.len() < 8 {
            return; // still inside the sequence
        }
        self.escape.clear();
        match last {
            b'A' => self.history_step(-1),
            b'B' => self.history_step(1),
            b'C' => self.cursor = (self.cursor + 1).min(self.buf.len()),
            b'D' => self.cursor = self.cursor.saturating_sub(1),
            b'H' => self.cursor = 0,
            b'F' => self.cursor = self.buf.len(),
            b'~' if seq.get(2) == Some(&b'3') && self.cursor < self.buf.len() => {
                self.buf.remove(self.cursor);
            }
            _ => {}
        }
    }

    fn history_step(&mut self, dir: isize) {
        let next = self.browse as isize + dir;
        if next < 0 || next as usize > self.history.len() {
            return;
        }
        self.browse = next as usize;
        let line = self.history.get(self.browse).cloned().unwrap_or_default();
        self.set_line(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_editing_and_history() {
        let mut e = Editor::new();
        assert_eq!(
            e.feed(b"show sys\x7f\x7f\x7fsystem\r"),
            vec![Event::Line("show system".into())]
        );
        assert_eq!(e.feed(b"conf\t"), vec![Event::Complete("conf".into())]);
        e.set_line("configure");
        assert_eq!(e.feed(b"\r"), vec![Event::Line("configure".into())]);
        e.feed(b"\x1b[A");
        assert_eq!(e.line(), "configure");
        e.feed(b"\x1b[A");
        assert_eq!(e.line(), "show system");
        e.feed(b"\x1b[B\x1b[B");
        assert_eq!(e.line(), "");
        assert_eq!(
            e.feed(b"set x \"a?b\" ?"),
            vec![Event::Help("set x \"a?b\" ".into())]
        );
        e.feed(b"\x15");
        assert_eq!(e.line(), "");
        e.feed(b"abc\x1b[D\x1b[DX");
        assert_eq!(e.line(), "aXbc");
        assert_eq!(e.feed(b"\x03"), vec![Event::Cancel]);
        assert_eq!(e.feed(b"\x04"), vec![Event::Eof]);
        e.feed("é\r".as_bytes());
    }
}
