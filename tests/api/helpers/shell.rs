//! One bash process that runs blocks of a document's shell recipes in order, keeping its
//! variables between them, as a person pasting them into one terminal would.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A running `bash` fed through its standard input.
pub struct Shell {
    child: Child,
    input: ChildStdin,
    output: Lines<BufReader<ChildStdout>>,
    errors: Arc<Mutex<String>>,
    blocks: usize,
}

impl Shell {
    /// Starts bash in `dir` with `env` added, failing on the first failed command.
    pub async fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new("bash");
        command
            .args(["--noprofile", "--norc"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("bash runs");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let errors = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let collected = errors.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut errors = collected.lock().unwrap();
                errors.push_str(&line);
                errors.push('\n');
            }
        });
        let mut shell = Self {
            child,
            input,
            output,
            errors,
            blocks: 0,
        };
        shell.run("set -euo pipefail").await;
        shell
    }

    /// Runs `block`; what it printed. Panics, with its output, if a command failed.
    pub async fn run(&mut self, block: &str) -> String {
        self.blocks += 1;
        let marker = format!("__block_{}_done__", self.blocks);
        let script = format!("{block}\necho {marker}\n");
        self.input.write_all(script.as_bytes()).await.unwrap();
        self.input.flush().await.unwrap();
        let mut printed = String::new();
        loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(30), self.output.next_line())
                .await
                .unwrap_or_else(|_| panic!("the block hung:\n{block}\nprinted:\n{printed}"));
            match line.unwrap() {
                // An answer without a final newline leaves the marker on its line.
                Some(line) if line.ends_with(&marker) => {
                    printed.push_str(&line[..line.len() - marker.len()]);
                    return printed;
                }
                Some(line) => {
                    printed.push_str(&line);
                    printed.push('\n');
                }
                None => {
                    let status = self.child.wait().await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    panic!(
                        "the block failed ({status}):\n{block}\nprinted:\n{printed}\nerrors:\n{}",
                        self.errors.lock().unwrap()
                    );
                }
            }
        }
    }
}
