//! The `harvester watch` binary as a child process: stderr (and stdout when asked) collected by threads, stopped
//! with SIGTERM as Kubernetes stops a pod.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cluster::kubeconfig;

/// What happens to the binary's stdout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// Kept line by line (the stdout sink's CloudEvents).
    Capture,
    Discard,
}

pub struct WatchProcess {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl WatchProcess {
    /// Starts `harvester watch --kubeconfig $KUBECONFIG ARGS…`.
    pub fn start(args: &[&str], stdout: Stdout) -> Self {
        Self::start_with(&kubeconfig(), args, stdout)
    }

    /// Starts `harvester watch --kubeconfig KUBECONFIG ARGS…`.
    pub fn start_with(kubeconfig: &Path, args: &[&str], stdout: Stdout) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_harvester"));
        command.arg("watch").arg("--kubeconfig").arg(kubeconfig).args(args);
        for var in ["HARVESTER_SINK", "HARVESTER_NAMESPACES", "HARVESTER_ALL_NAMESPACES", "HARVESTER_SELECTOR"] {
            command.env_remove(var);
        }
        command.env("HARVESTER_LOG", std::env::var("HARVESTER_LOG").unwrap_or_else(|_| "warn".into()));
        let stdout_mode = if stdout == Stdout::Capture { Stdio::piped() } else { Stdio::null() };
        let mut child = command.stdout(stdout_mode).stderr(Stdio::piped()).spawn().expect("harvester starts");
        let (stderr_lines, stdout_lines) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let mut readers = vec![collect(child.stderr.take().expect("stderr"), stderr_lines.clone())];
        if let Some(out) = child.stdout.take() {
            readers.push(collect(out, stdout_lines.clone()));
        }
        WatchProcess { child, stderr: stderr_lines, stdout: stdout_lines, readers }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().expect("lock").clone()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    /// Waits until `count` stderr lines start with `prefix` (e.g. `listed `: one per watcher once it has listed).
    pub async fn wait_for_stderr(&mut self, prefix: &str, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines: Vec<String> = self.stderr().into_iter().filter(|l| l.starts_with(prefix)).collect();
            if lines.len() >= count {
                return lines;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("harvester exited ({status}) before {count} lines `{prefix}…`: {:#?}", self.stderr());
            }
            assert!(Instant::now() < deadline, "no {count} lines `{prefix}…` within {timeout:?}: {:#?}", self.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits for the exit; returns the status and everything written to stderr.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>) {
        let killed = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("kill");
        assert!(killed.success(), "kill -TERM {}", self.pid());
        let status = self.child.wait().expect("harvester exits");
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (status, self.stderr())
    }
}

impl Drop for WatchProcess {
    /// A failed test must not leave a watcher running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(stream: impl std::io::Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().expect("lock").push(line);
        }
    })
}
