//! A real SMTP server for tests: accepts every message on 127.0.0.1 and keeps it, so a
//! test can read the links the server mailed. It can be stopped and restarted on the
//! same port to simulate an outage.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The first link in the text body that carries a token, e.g. `http://x/verify-email?token=…`.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("mail has a link");
        self.text[start..]
            .split_whitespace()
            .next()
            .expect("link text")
            .to_owned()
    }

    /// The `token` parameter of the mail's link.
    pub fn token(&self) -> String {
        let link = self.link();
        let (_, token) = link.split_once("token=").expect("link has a token");
        token.to_owned()
    }
}

#[derive(Default)]
struct Inbox {
    mails: Mutex<Vec<Mail>>,
    arrived: Notify,
}

/// The sink; dropping it stops it.
pub struct SmtpSink {
    addr: SocketAddr,
    inbox: Arc<Inbox>,
    task: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp sink");
        let addr = listener.local_addr().expect("sink addr");
        let inbox = Arc::new(Inbox::default());
        let task = Some(tokio::spawn(accept(listener, Arc::clone(&inbox))));
        Self { addr, inbox, task }
    }

    /// The SMTP_URL pointing at this sink.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Stops listening: connections are refused until [`SmtpSink::restart`].
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind smtp sink");
        self.task = Some(tokio::spawn(accept(listener, Arc::clone(&self.inbox))));
    }

    /// Every mail received so far for `to`.
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        let mails = self.inbox.mails.lock().expect("inbox");
        mails
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .cloned()
            .collect()
    }

    /// Waits (up to 10 s) until `to` has received `count` mails, and returns them.
    pub async fn wait_for_count(&self, to: &str, count: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{to} received {} mails, expected {count}", mails.len());
            }
        }
    }

    /// Waits for the next mail to `to` whose subject contains `subject`.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Mail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            if let Some(mail) = self
                .mails_to(to)
                .into_iter()
                .rev()
                .find(|m| m.subject.contains(subject))
            {
                return mail;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "no mail to {to} with subject containing {subject:?}; got {:?}",
                    self.mails_to(to)
                );
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, inbox: Arc<Inbox>) {
    let mut sessions = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        sessions.spawn(session(stream, Arc::clone(&inbox)));
    }
}

async fn session(stream: TcpStream, inbox: Arc<Inbox>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut recipients = Vec::new();
    if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if command.starts_with("MAIL FROM") {
            recipients.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned();
            recipients.push(address.to_lowercase());
            b"250 OK\r\n"
        } else if command == "DATA" {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut raw = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                raw.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            store(&inbox, recipients.clone(), &raw);
            b"250 OK queued\r\n"
        } else if command == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 OK\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn store(inbox: &Inbox, to: Vec<String>, raw: &str) {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parse mail");
    let mail = Mail {
        to,
        subject: parsed.subject().unwrap_or_default().to_owned(),
        text: parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: parsed.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
    };
    inbox.mails.lock().expect("inbox").push(mail);
    inbox.arrived.notify_waiters();
}
