//! The CRM sandbox in a child process of its own, for `crm-sync bench
//! --sandbox-process`: this binary run again as the hidden `crm-sync
//! sandbox-server` (the same server as the `crm-sandbox` binary,
//! [`crm_sandbox::serve`]), on free loopback ports. The parent reads the
//! `KEY=VALUE` lines it prints (URLs, credentials) and from then on talks to
//! it over HTTP only.
//!
//! The child is killed when the [`SandboxProcess`] is dropped (the bench
//! ended or failed), and stops by itself when its standard input closes (the
//! parent died without dropping it).

use anyhow::Context;
use crm_sandbox::SandboxOptions;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// The hidden subcommand that runs the sandbox server.
pub const SUBCOMMAND: &str = "sandbox-server";

/// The lines the server prints last; once read, it is serving.
const LAST_KEY: &str = "HUBSPOT_PORTAL_ID";

/// How long seeding and starting may take before the child counts as stuck.
const START_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A running sandbox server in a child process.
pub struct SandboxProcess {
    child: Child,
    /// Held open: the child stops when it closes.
    _stdin: Option<ChildStdin>,
    /// What it printed: `SALESFORCE_URL`, `HUBSPOT_URL`, credentials.
    pub env: BTreeMap<String, String>,
}

impl std::fmt::Debug for SandboxProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxProcess").field("pid", &self.child.id()).field("env", &self.env).finish()
    }
}

/// One `KEY=VALUE` line of the server's output; other lines are `None`.
pub fn parse_env_line(line: &str) -> Option<(String, String)> {
    let (key, value) = line.trim_end().split_once('=')?;
    let well_formed = !key.is_empty() && key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    well_formed.then(|| (key.to_owned(), value.to_owned()))
}

impl SandboxProcess {
    /// Starts `options` (addresses, seeding, limits, delivery targets) in a
    /// child process and waits until it serves. Blocks the thread while the
    /// child seeds; call it from `spawn_blocking`.
    pub fn start(options: &SandboxOptions) -> anyhow::Result<SandboxProcess> {
        let exe = std::env::current_exe().context("finding this program to run the sandbox")?;
        let mut child = Command::new(exe)
            .arg(SUBCOMMAND)
            .args(crm_sandbox::serve::args_for(options))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the sandbox process")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the sandbox process has no stdout")?;
        // From here on the child is killed if anything fails.
        let mut process = SandboxProcess { child, _stdin: stdin, env: BTreeMap::new() };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut env = BTreeMap::new();
            let mut line = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(None);
                        return;
                    }
                    Ok(_) => {
                        if let Some((key, value)) = parse_env_line(&line) {
                            let last = key == LAST_KEY;
                            env.insert(key, value);
                            if last {
                                let _ = tx.send(Some(env));
                                break;
                            }
                        }
                    }
                }
            }
            // Keep draining, so that the child never blocks on a full pipe.
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(env)) => process.env = env,
            Ok(None) => anyhow::bail!("the sandbox process stopped before it served (see its errors above)"),
            Err(_) => anyhow::bail!("the sandbox process did not start within {} s", START_TIMEOUT.as_secs()),
        }
        for key in ["SALESFORCE_URL", "HUBSPOT_URL"] {
            anyhow::ensure!(process.env.contains_key(key), "the sandbox process printed no {key}");
        }
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A printed value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// Kills the child and waits for it.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_value_lines_are_read() {
        assert_eq!(
            parse_env_line("SALESFORCE_URL=http://127.0.0.1:4000\n"),
            Some(("SALESFORCE_URL".into(), "http://127.0.0.1:4000".into()))
        );
        assert_eq!(parse_env_line("HUBSPOT_TOKEN=pat=x"), Some(("HUBSPOT_TOKEN".into(), "pat=x".into())));
        assert_eq!(parse_env_line("2025-01-01T00:00:00Z INFO sandbox started url=http://x"), None);
        assert_eq!(parse_env_line("no equals sign"), None);
        assert_eq!(parse_env_line("=value"), None);
    }
}
