//! Line framing for the text protocols of power devices (NUT, Powerman): bytes
//! in, whole lines out. A line is taken only once its newline arrived; a line
//! longer than the protocol allows is an error, never an unbounded buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A line reached this many bytes without its end.
    TooLong(usize),
    NotText,
}

pub struct Lines {
    buf: Vec<u8>,
    max: usize,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            buf: Vec::new(),
            max,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole line, without its `\n` or `\r\n`.
    pub fn next_line(&mut self) -> Result<Option<String>, LineError> {
        let Some(end) = self.buf.iter().position(|b| *b == b'\n') else {
            if self.buf.len() > self.max {
                return Err(LineError::TooLong(self.max));
            }
            return Ok(None);
        };
        if end > self.max {
            return Err(LineError::TooLong(self.max));
        }
        let mut line: Vec<u8> = self.buf.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line)
            .map(Some)
            .map_err(|_| LineError::NotText)
    }

    /// What has come after the last whole line (a prompt without newline).
    pub fn partial(&self) -> &[u8] {
        &self.buf
    }

    /// Takes `prefix` (a prompt) off the front, if that is what comes next.
    pub fn take_prefix(&mut self, prefix: &[u8]) -> bool {
        let there = self.buf.starts_with(prefix);
        if there {
            self.buf.drain(..prefix.len());
        }
        there
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_only_and_bounded() {
        let mut l = Lines::new(8);
        l.feed(b"ab\r\ncd");
        assert_eq!(l.next_line().unwrap().as_deref(), Some("ab"));
        assert_eq!(l.next_line().unwrap(), None);
        assert_eq!(l.partial(), b"cd");
        l.feed(b"\n");
        assert_eq!(l.next_line().unwrap().as_deref(), Some("cd"));
        l.feed(b"0123456789");
        assert_eq!(l.next_line(), Err(LineError::TooLong(8)));
        let mut l = Lines::new(8);
        l.feed(b"\xff\n");
        assert_eq!(l.next_line(), Err(LineError::NotText));
    }
}
