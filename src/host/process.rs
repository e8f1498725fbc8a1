//! Programs the appliance runs (rule scripts and checks): in a process group
//! of their own, so that a timeout kills the program and whatever it started.
use std::time::Duration;

/// Runs `program` with `args` and extra environment; `Ok` if it exits 0
/// within `timeout`, else why not (its exit status and the end of its
/// standard error, or the timeout).
pub async fn run(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
    // Dropped before the program ended (timed out, or the caller gave up):
    // its whole group goes.
    let mut group = Group(child.id());
    // Read apart from the wait: a background process the program left
    // holding stderr must not keep the run open.
    let mut stderr = child.stderr.take();
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(64 * 1024).read_to_end(&mut buf).await;
        }
        buf
    });
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Err(_) => {
            reader.abort();
            return Err(format!("{program}: killed after {} s", timeout.as_secs()));
        }
        Ok(Err(e)) => return Err(format!("{program}: {e}")),
        Ok(Ok(status)) => status,
    };
    group.0 = None;
    if status.success() {
        reader.abort();
        return Ok(());
    }
    let err = tokio::time::timeout(Duration::from_millis(200), reader)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let err = String::from_utf8_lossy(&err);
    let err = err.trim();
    let mut start = err.len().saturating_sub(200);
    while !err.is_char_boundary(start) {
        start += 1;
    }
    let tail = &err[start..];
    Err(format!("{program}: {status} {tail}").trim_end().to_string())
}

/// A process group killed when dropped, unless disarmed (`.0 = None`).
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // The group's id is the leader's pid.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exit_status_and_timeout_kill_the_group() {
        let sh = |s: &str| vec!["-c".to_string(), s.to_string()];
        assert!(
            run("/bin/sh", &sh("exit 0"), &[], Duration::from_secs(5))
                .await
                .is_ok()
        );
        let e = run(
            "/bin/sh",
            &sh("echo bad >&2; exit 3"),
            &[],
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(e.contains("3") && e.contains("bad"), "{e}");
        let env = [("LIFELINE_X".to_string(), "7".to_string())];
        assert!(
            run(
                "/bin/sh",
                &sh("test \"$LIFELINE_X\" = 7"),
                &env,
                Duration::from_secs(5)
            )
            .await
            .is_ok()
        );
        let dir = tempfile_dir();
        let marker = format!("{dir}/child-alive");
        // The script's child would touch the marker after the timeout.
        let script = format!("(sleep 2; touch {marker}) & sleep 30");
        let t0 = std::time::Instant::now();
        let e = run("/bin/sh", &sh(&script), &[], Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(e.contains("killed"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !std::path::Path::new(&marker).exists(),
            "the group was killed"
        );
    }

    #[tokio::test]
    async fn a_background_child_holding_stderr_does_not_hold_the_run() {
        let sh = |s: &str| vec!["-c".to_string(), s.to_string()];
        let t0 = std::time::Instant::now();
        let r = run(
            "/bin/sh",
            &sh("sleep 5 & exit 0"),
            &[],
            Duration::from_secs(3),
        )
        .await;
        assert!(r.is_ok(), "{r:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));
        let long = "é".repeat(300);
        let e = run(
            "/bin/sh",
            &sh(&format!("echo {long} >&2; exit 1")),
            &[],
            Duration::from_secs(3),
        )
        .await
        .unwrap_err();
        assert!(e.contains("é"), "{e}");
    }

    fn tempfile_dir() -> String {
        let d = std::env::temp_dir().join(format!("ll-proc-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.display().to_string()
    }
}
