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
    let child = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            if let Some(pid) = pid {
                // The group's id is the child's pid.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(format!("{program}: killed after {} s", timeout.as_secs()))
        }
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: String = err
                .trim()
                .chars()
                .rev()
                .take(200)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Err(format!("{program}: {} {tail}", out.status)
                .trim_end()
                .to_string())
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

    fn tempfile_dir() -> String {
        let d = std::env::temp_dir().join(format!("ll-proc-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.display().to_string()
    }
}
