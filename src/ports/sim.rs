//! Simulated consoles for the demo: a pty pair whose slave is the port's device
//! and whose master is driven by a small IOS-like router (login, a few commands,
//! a syslog line now and then).
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::serial::{self, Tty, check};

const PASSWORD: &str = "cisco";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Username,
    Password,
    User,
    EnablePassword,
    Enable,
    ConfirmReload,
    /// Crashed (`test crash`): deaf and silent until its power is cycled.
    Hung,
}

/// The router's console as a pure state machine.
pub struct Router {
    host: String,
    stage: Stage,
    line: Vec<u8>,
    after_cr: bool,
    booted: Instant,
    ticks: u64,
}

const COMMANDS: &[&str] = &[
    "show version",
    "show clock",
    "show interfaces",
    "show ip interface brief",
    "show running-config",
    "enable",
    "disable",
    "ping",
    "reload",
    "test crash",
    "exit",
    "logout",
];

impl Router {
    pub fn new(host: &str) -> Router {
        Router {
            host: host.to_string(),
            stage: Stage::Username,
            line: Vec::new(),
            after_cr: false,
            booted: Instant::now(),
            ticks: 0,
        }
    }

    pub fn banner(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "\r\n\r\n{} line 0\r\n\r\nUser Access Verification\r\n\r\nUsername: ",
                self.host
            )
            .as_bytes(),
        );
    }

    /// Power came back (or a reload): the bootstrap, then the login prompt.
    pub fn boot(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"System Bootstrap, Version 15.1(4)M, RELEASE SOFTWARE\r\nInitializing memory...\r\nLoading flash:c2900-universalk9-mz.SPA.157-3.M6.bin ... [OK]\r\nPress RETURN to get started!\r\n",
        );
        self.stage = Stage::Username;
        self.line.clear();
        self.booted = Instant::now();
    }

    fn prompt(&self) -> String {
        match self.stage {
            Stage::Username => "Username: ".into(),
            Stage::Password | Stage::EnablePassword => "Password: ".into(),
            Stage::User => format!("{}>", self.host),
            Stage::Enable => format!("{}#", self.host),
            Stage::ConfirmReload => "Proceed with reload? [confirm]".into(),
            Stage::Hung => String::new(),
        }
    }

    fn echoes(&self) -> bool {
        !matches!(self.stage, Stage::Password | Stage::EnablePassword)
    }

    /// One typed byte; what the console prints in answer goes to `out`.
    pub fn input(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.stage == Stage::Hung {
            return;
        }
        let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
        match b {
            b'\n' if after_cr => {}
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                self.enter(line.trim(), out);
                out.extend_from_slice(self.prompt().as_bytes());
            }
            0x7f | 0x08 => {
                let erased = self.line.pop().is_some();
                if erased && self.echoes() {
                    out.extend_from_slice(b"\x08 \x08");
                }
            }
            0x03 => {
                self.line.clear();
                out.extend_from_slice(b"^C\r\n");
                out.extend_from_slice(self.prompt().as_bytes());
            }
            0x15 => {
                if self.echoes() {
                    for _ in 0..self.line.len() {
                        out.extend_from_slice(b"\x08 \x08");
                    }
                }
                self.line.clear();
            }
            0x20..=0x7e if self.line.len() < 512 => {
                self.line.push(b);
                if self.echoes() {
                    out.push(b);
                }
            }
            _ => {}
        }
    }

    fn enter(&mut self, line: &str, out: &mut Vec<u8>) {
        let mut say = |s: &str| {
            for l in s.lines() {
                out.extend_from_slice(l.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        };
        match self.stage {
            Stage::Username => {
                if !line.is_empty() {
                    self.stage = Stage::Password;
                }
            }
            Stage::Password => {
                if line == PASSWORD {
                    self.stage = Stage::User;
                } else {
                    say("% Login invalid\n");
                    self.stage = Stage::Username;
                }
            }
            Stage::EnablePassword => {
                if line == PASSWORD {
                    self.stage = Stage::Enable;
                } else {
                    say("% Access denied\n");
                    self.stage = Stage::User;
                }
            }
            Stage::ConfirmReload => {
                say("\n*** System restarting...");
                self.boot(out);
            }
            Stage::User | Stage::Enable => self.command(line, out),
            Stage::Hung => {}
        }
    }

    fn command(&mut self, line: &str, out: &mut Vec<u8>) {
        let mut say = |s: String| {
            for l in s.lines() {
                out.extend_from_slice(l.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            return;
        }
        if words == ["?"] {
            say(COMMANDS.join("\n"));
            return;
        }
        // IOS accepts unique prefixes of each word: `sh ver`.
        let matches: Vec<&&str> = COMMANDS
            .iter()
            .filter(|c| {
                let cw: Vec<&str> = c.split_whitespace().collect();
                cw.len() <= words.len() && cw.iter().zip(&words).all(|(c, w)| c.starts_with(w))
            })
            .collect();
        let Some(cmd) = matches.iter().max_by_key(|c| c.split_whitespace().count()) else {
            say("% Unknown command or computer name, or unable to find computer address".into());
            return;
        };
        let up = self.booted.elapsed().as_secs();
        match **cmd {
            "show version" => say(format!(
                "Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.7(3)M6\n{} uptime is {} minutes, {} seconds\nProcessor board ID FTX1840ALBS\n4 Gigabit Ethernet interfaces",
                self.host,
                up / 60,
                up % 60
            )),
            "show clock" => say(chrono::Utc::now().format("*%H:%M:%S.%3f UTC %a %b %d %Y").to_string()),
            "show interfaces" | "show ip interface brief" => {
                let mut t = "Interface              IP-Address      OK? Method Status                Protocol\n".to_string();
                for i in 0..4 {
                    t.push_str(&format!(
                        "GigabitEthernet0/{i}     10.0.{i}.1        YES NVRAM  up                    up      {} packets input\n",
                        up * 37 + i * 1000
                    ));
                }
                say(t)
            }
            "show running-config" if self.stage == Stage::Enable => say(format!(
                "Building configuration...\n!\nhostname {}\n!\ninterface GigabitEthernet0/0\n ip address 10.0.0.1 255.255.255.0\n!\nend",
                self.host
            )),
            "show running-config" => say("% Invalid input detected at '^' marker.".into()),
            "enable" => self.stage = Stage::EnablePassword,
            "disable" => self.stage = Stage::User,
            "ping" => say("Type escape sequence to abort.\n!!!!!\nSuccess rate is 100 percent (5/5), round-trip min/avg/max = 1/1/2 ms".into()),
            "reload" => self.stage = Stage::ConfirmReload,
            // What the demo's auto-response rule watches for.
            "test crash" => {
                say("%SYS-2-WATCHDOG: Process aborted on watchdog timeout, process = IP Input".into());
                self.stage = Stage::Hung;
            }
            _ => {
                self.stage = Stage::Username;
                let mut b = Vec::new();
                self.banner(&mut b);
                // The banner ends with the prompt, printed by the caller.
                let text = String::from_utf8_lossy(&b).into_owned();
                say(text.trim_end_matches("Username: ").to_string());
            }
        }
    }

    /// The periodic syslog line, then the prompt and what was being typed.
    pub fn tick(&mut self, out: &mut Vec<u8>) {
        if self.stage == Stage::Hung {
            return;
        }
        self.ticks += 1;
        let state = if self.ticks.is_multiple_of(2) {
            "up"
        } else {
            "down"
        };
        out.extend_from_slice(
            format!(
                "\r\n{}: %LINK-3-UPDOWN: Interface GigabitEthernet0/2, changed state to {state}\r\n{}",
                chrono::Utc::now().format("*%b %d %H:%M:%S%.3f"),
                self.prompt()
            )
            .as_bytes(),
        );
        if self.echoes() {
            out.extend_from_slice(&self.line);
        }
    }
}

/// A running simulated device.
pub struct Sim {
    link: PathBuf,
    power: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A pty pair in raw mode: (master, non-blocking; slave; the slave's path).
pub fn pty_pair() -> io::Result<(OwnedFd, OwnedFd, PathBuf)> {
    let (mut m, mut s) = (0, 0);
    let mut name = [0 as libc::c_char; 128];
    check(unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            name.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
        )
    })?;
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        check(libc::tcgetattr(slave.as_raw_fd(), &mut t))?;
        libc::cfmakeraw(&mut t);
        check(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t))?;
        let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        check(libc::fcntl(
            master.as_raw_fd(),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        ))?;
    }
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Ok((master, slave, PathBuf::from(path)))
}

impl Sim {
    /// Opens a pty pair, links `link` to its slave (in raw mode) and runs the
    /// router on its master, on the current runtime.
    pub fn spawn(hostname: &str, link: &Path) -> io::Result<Sim> {
        let (master, slave, path) = pty_pair()?;
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&path, link)?;
        let master = Tty::from_fd(master)?;
        let (power, powered) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(run(master, slave, Router::new(hostname), powered));
        Ok(Sim {
            link: link.to_path_buf(),
            power,
            task,
        })
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Switches the router's power: off, it is silent and deaf; on, it boots.
    pub fn power(&self) -> impl Fn(bool) + Send + Sync + 'static {
        let power = self.power.clone();
        move |on| {
            power.send_replace(on);
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.link);
    }
}

/// `_slave` stays open so the master never sees a hang-up while the appliance
/// closes and reopens the port.
async fn run(
    master: Tty,
    _slave: OwnedFd,
    mut router: Router,
    mut powered: tokio::sync::watch::Receiver<bool>,
) {
    let mut out = Vec::new();
    router.banner(&mut out);
    let _ = serial::write_all(&master, &out).await;
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.tick().await;
    let mut buf = [0u8; 1024];
    let mut on = true;
    loop {
        out.clear();
        tokio::select! {
            _ = tick.tick(), if on => router.tick(&mut out),
            r = powered.changed() => {
                if r.is_err() {
                    return;
                }
                let now = *powered.borrow_and_update();
                if now && !on {
                    router.boot(&mut out);
                    router.banner(&mut out);
                }
                on = now;
            }
            r = serial::read(&master, &mut buf) => match r {
                // Without power, what is typed goes nowhere.
                Ok(_) if !on => {}
                Ok(n) => {
                    for &b in &buf[..n] {
                        router.input(b, &mut out);
                    }
                }
                // No slave open (cannot happen while we hold one): wait.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
        }
        let _ = serial::write_all(&master, &out).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(r: &mut Router, s: &str) -> String {
        let mut out = Vec::new();
        for b in s.bytes() {
            r.input(b, &mut out);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn logs_in_and_answers() {
        let mut r = Router::new("r1");
        assert!(typed(&mut r, "admin\r").ends_with("Password: "));
        let out = typed(&mut r, "cisco\r");
        assert!(!out.contains("cisco") && out.ends_with("r1>"));
        assert!(typed(&mut r, "sh ver\r").contains("Version 15.7"));
        assert!(typed(&mut r, "show run\r").contains("Invalid input"));
        typed(&mut r, "en\r");
        assert!(typed(&mut r, "cisco\r").ends_with("r1#"));
        assert!(typed(&mut r, "show run\r").contains("hostname r1"));
        assert!(typed(&mut r, "bogus\r").contains("% Unknown command"));
    }

    #[test]
    fn a_crashed_router_is_silent_until_it_boots() {
        let mut r = Router::new("r1");
        typed(&mut r, "admin\r");
        typed(&mut r, &format!("{PASSWORD}\r"));
        assert!(typed(&mut r, "test crash\r").contains("%SYS-2-WATCHDOG"));
        assert!(typed(&mut r, "show version\r").is_empty());
        let mut out = Vec::new();
        r.tick(&mut out);
        assert!(out.is_empty());
        r.boot(&mut out);
        assert!(typed(&mut r, "admin\r").contains("Password"));
    }

    #[test]
    fn bad_password_is_refused() {
        let mut r = Router::new("r1");
        typed(&mut r, "admin\r");
        let out = typed(&mut r, "nope\r");
        assert!(out.contains("% Login invalid") && out.ends_with("Username: "));
    }

    #[tokio::test]
    async fn the_link_reaches_the_router() {
        use std::io::{Read, Write};
        let dir = std::env::temp_dir().join(format!("ll-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("tty");
        let sim = Sim::spawn("r9", &link).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(sim.link())
            .unwrap();
        f.write_all(b"\r").unwrap();
        let got = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !String::from_utf8_lossy(&got).contains("Username:") {
                let n = f.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        tokio::time::timeout(Duration::from_secs(5), got)
            .await
            .expect("the banner")
            .unwrap();
        drop(sim);
        assert!(!link.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
