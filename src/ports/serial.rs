//! Serial devices behind a trait, so tests can fake BREAK and the modem lines
//! (ptys carry neither). The real one is a tty opened non-blocking and driven by
//! tokio's reactor; speeds are set with termios2, so any baud rate works.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parity {
    None,
    Even,
    Odd,
    Mark,
    Space,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    None,
    RtsCts,
    XonXoff,
}

/// The line settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
    pub flow: Flow,
}

impl Parity {
    pub fn as_str(self) -> &'static str {
        match self {
            Parity::None => "none",
            Parity::Even => "even",
            Parity::Odd => "odd",
            Parity::Mark => "mark",
            Parity::Space => "space",
        }
    }
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::None => "none",
            Flow::RtsCts => "rts-cts",
            Flow::XonXoff => "xon-xoff",
        }
    }
}

/// The modem control lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    pub dcd: bool,
    pub dsr: bool,
    pub cts: bool,
    pub ri: bool,
    pub dtr: bool,
    pub rts: bool,
}

/// An open serial device. Reads and writes go through `&self` so one task can
/// read while another writes and a third sends a BREAK.
pub trait Device: Send + Sync {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    fn configure(&self, s: &Settings) -> io::Result<()>;
    fn set_break(&self, on: bool) -> io::Result<()>;
    /// The modem lines; an error where the device has none (a pty).
    fn signals(&self) -> io::Result<Signals>;
    fn set_outputs(&self, dtr: Option<bool>, rts: Option<bool>) -> io::Result<()>;
    fn purge(&self, rx: bool, tx: bool) -> io::Result<()>;
}

/// Opens devices by path (the real one, or a test's fake).
pub trait Opener: Send + Sync {
    fn open(&self, path: &Path, settings: &Settings) -> io::Result<Arc<dyn Device>>;
}

pub async fn read(dev: &dyn Device, buf: &mut [u8]) -> io::Result<usize> {
    std::future::poll_fn(|cx| dev.poll_read(cx, buf)).await
}

pub async fn write_all(dev: &dyn Device, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = std::future::poll_fn(|cx| dev.poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

/// Real ttys.
pub struct TtyOpener;

impl Opener for TtyOpener {
    fn open(&self, path: &Path, settings: &Settings) -> io::Result<Arc<dyn Device>> {
        let tty = Tty::open(path)?;
        tty.configure(settings)?;
        Ok(Arc::new(tty))
    }
}

pub struct Tty {
    fd: AsyncFd<OwnedFd>,
}

fn standard_rate(baud: u32) -> Option<libc::tcflag_t> {
    Some(match baud {
        50 => libc::B50,
        75 => libc::B75,
        110 => libc::B110,
        134 => libc::B134,
        150 => libc::B150,
        200 => libc::B200,
        300 => libc::B300,
        600 => libc::B600,
        1200 => libc::B1200,
        1800 => libc::B1800,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115200 => libc::B115200,
        230400 => libc::B230400,
        460800 => libc::B460800,
        500000 => libc::B500000,
        576000 => libc::B576000,
        921600 => libc::B921600,
        _ => return None,
    })
}

/// A read(2) or write(2) result.
fn sys(n: isize) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

pub(crate) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Tty {
    pub fn open(path: &Path) -> io::Result<Tty> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let raw = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        Tty::from_fd(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    /// A terminal fd already open and non-blocking (such as a pty master).
    pub fn from_fd(fd: OwnedFd) -> io::Result<Tty> {
        if unsafe { libc::isatty(fd.as_raw_fd()) } != 1 {
            return Err(io::Error::other("not a terminal device"));
        }
        // Safety: the fd is ours alone and lives as long as the AsyncFd.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(Tty { fd })
    }

    fn raw(&self) -> libc::c_int {
        self.fd.get_ref().as_raw_fd()
    }

    fn modem_bits(&self) -> io::Result<libc::c_int> {
        let mut bits: libc::c_int = 0;
        check(unsafe { libc::ioctl(self.raw(), libc::TIOCMGET, &mut bits) })?;
        Ok(bits)
    }
}

impl Device for Tty {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let r = guard.try_io(|fd| {
                sys(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
            });
            if let Ok(r) = r {
                return Poll::Ready(r);
            }
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            let r = guard.try_io(|fd| {
                sys(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
            });
            if let Ok(r) = r {
                return Poll::Ready(r);
            }
        }
    }

    fn configure(&self, s: &Settings) -> io::Result<()> {
        let fd = self.raw();
        let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
        check(unsafe { libc::ioctl(fd, libc::TCGETS2, &mut t) })?;
        // Raw mode: no echo, no line editing, no translation of any byte.
        t.c_iflag &= !(libc::IGNBRK
            | libc::BRKINT
            | libc::PARMRK
            | libc::ISTRIP
            | libc::INLCR
            | libc::IGNCR
            | libc::ICRNL
            | libc::IXON
            | libc::IXOFF
            | libc::IXANY);
        t.c_oflag &= !libc::OPOST;
        t.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
        t.c_cflag &= !(libc::CSIZE
            | libc::PARENB
            | libc::PARODD
            | libc::CMSPAR
            | libc::CSTOPB
            | libc::CRTSCTS
            | libc::CBAUD);
        t.c_cflag |= libc::CREAD | libc::CLOCAL;
        t.c_cflag |= match s.data_bits {
            5 => libc::CS5,
            6 => libc::CS6,
            7 => libc::CS7,
            _ => libc::CS8,
        };
        t.c_cflag |= match s.parity {
            Parity::None => 0,
            Parity::Even => libc::PARENB,
            Parity::Odd => libc::PARENB | libc::PARODD,
            Parity::Mark => libc::PARENB | libc::PARODD | libc::CMSPAR,
            Parity::Space => libc::PARENB | libc::CMSPAR,
        };
        if s.stop_bits == 2 {
            t.c_cflag |= libc::CSTOPB;
        }
        match s.flow {
            Flow::None => {}
            Flow::RtsCts => t.c_cflag |= libc::CRTSCTS,
            Flow::XonXoff => t.c_iflag |= libc::IXON | libc::IXOFF,
        }
        // A standard rate by its B constant (what every tool reads back); any
        // other rate as BOTHER with the number. The input speed follows.
        t.c_cflag &= !(libc::BOTHER | (libc::CBAUD << libc::IBSHIFT));
        t.c_cflag |= standard_rate(s.baud).unwrap_or(libc::BOTHER);
        t.c_ispeed = s.baud;
        t.c_ospeed = s.baud;
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        check(unsafe { libc::ioctl(fd, libc::TCSETS2, &t) })
    }

    fn set_break(&self, on: bool) -> io::Result<()> {
        let req = if on { libc::TIOCSBRK } else { libc::TIOCCBRK };
        check(unsafe { libc::ioctl(self.raw(), req) })
    }

    fn signals(&self) -> io::Result<Signals> {
        let b = self.modem_bits()?;
        Ok(Signals {
            dcd: b & libc::TIOCM_CAR != 0,
            dsr: b & libc::TIOCM_DSR != 0,
            cts: b & libc::TIOCM_CTS != 0,
            ri: b & libc::TIOCM_RNG != 0,
            dtr: b & libc::TIOCM_DTR != 0,
            rts: b & libc::TIOCM_RTS != 0,
        })
    }

    fn set_outputs(&self, dtr: Option<bool>, rts: Option<bool>) -> io::Result<()> {
        for (want, bit) in [(dtr, libc::TIOCM_DTR), (rts, libc::TIOCM_RTS)] {
            if let Some(on) = want {
                let req = if on { libc::TIOCMBIS } else { libc::TIOCMBIC };
                check(unsafe { libc::ioctl(self.raw(), req, &bit) })?;
            }
        }
        Ok(())
    }

    fn purge(&self, rx: bool, tx: bool) -> io::Result<()> {
        let which = match (rx, tx) {
            (true, true) => libc::TCIOFLUSH,
            (true, false) => libc::TCIFLUSH,
            (false, true) => libc::TCOFLUSH,
            (false, false) => return Ok(()),
        };
        check(unsafe { libc::tcflush(self.raw(), which) })
    }
}
