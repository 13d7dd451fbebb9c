//! Live fan-out benchmark, driven by `scripts/bench live` against the release server:
//! memory per subscription with 10,000 websocket subscribers, delivery latency of one event
//! to all of them, and a sustained mutation rate with 1,000 subscribers counting that every
//! event arrives (a subscriber closed for falling behind resumes with its last cursor).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark client: fails loudly and prints its figures"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const SUBSCRIPTION: &str =
    "subscription($c: ID!, $a: String) { activity(companyId: $c, after: $a) { cursor verb summary } }";

struct Args {
    http: String,
    ws: String,
    token: String,
    /// The accounts the sockets sign in as, in turn: one account holds at most
    /// WS_MAX_SOCKETS_PER_USER sockets.
    socket_tokens: Vec<String>,
    company: String,
    table: String,
    pid: u32,
    /// Subscriptions in all.
    subscribers: usize,
    /// Subscriptions each socket runs (each socket counts every event once per subscription).
    per_socket: usize,
    fanout_events: usize,
    sustained_subscribers: usize,
    rate: u64,
    seconds: u64,
    /// Only open and authenticate the sockets (memory of a bare connection), then stop.
    connect_only: bool,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        raw.iter()
            .position(|a| a == name)
            .and_then(|i| raw.get(i + 1))
            .cloned()
            .unwrap_or_else(|| panic!("missing {name}"))
    };
    let opt = |name: &str, default: u64| {
        raw.iter()
            .position(|a| a == name)
            .map_or(default, |i| raw[i + 1].parse().unwrap())
    };
    let addr = get("--addr");
    Args {
        http: format!("http://{addr}/graphql"),
        ws: format!("ws://{addr}/graphql/ws"),
        token: get("--token"),
        socket_tokens: get("--socket-tokens").split(',').map(str::to_owned).collect(),
        company: get("--company"),
        table: get("--table"),
        pid: get("--pid").parse().unwrap(),
        subscribers: opt("--subscribers", 10_000) as usize,
        per_socket: opt("--per-socket", 1).max(1) as usize,
        fanout_events: opt("--fanout-events", 20) as usize,
        sustained_subscribers: opt("--sustained-subscribers", 1_000) as usize,
        rate: opt("--rate", 500),
        seconds: opt("--seconds", 20),
        connect_only: opt("--connect-only", 0) == 1,
    }
}

/// A figure of the server's /proc status, in kB: `RssAnon` (its heap and stacks) or `VmRSS`
/// (also the mapped binary's code pages, which the server touches as new code paths first
/// run and which no subscription owns).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

/// The CPU time the process has used so far (user and system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    // /proc counts it in USER_HZ ticks, 100 a second on Linux whatever the kernel's own rate.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / TICKS_PER_SECOND
}

/// What all subscribers share.
#[derive(Default)]
struct Shared {
    /// Project name → when its mutation was sent and when it was answered (fan-out phase).
    sent: Mutex<HashMap<String, (Instant, Option<Instant>)>>,
    /// Per delivery: milliseconds from the mutation's request, and from its answer.
    latencies_ms: Mutex<Vec<(f64, f64)>>,
    acked: AtomicUsize,
    errors: AtomicUsize,
    resumed: AtomicUsize,
}

/// One subscriber: subscribes, counts row events, reports fan-out latencies, and resumes
/// from its last cursor when the server closes it for falling behind.
async fn subscriber(args: Arc<Args>, shared: Arc<Shared>, rows_seen: Arc<AtomicU64>, n: usize) {
    let token = &args.socket_tokens[n % args.socket_tokens.len()];
    let mut after: Option<String> = None;
    loop {
        let mut request = args.ws.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let Ok((mut socket, _)) =
            tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), true).await
        else {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let init =
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        socket.send(Message::Text(init.to_string().into())).await.unwrap();
        let subscribe: Vec<Value> = (1..=args.per_socket)
            .map(|id| {
                json!({ "id": id.to_string(), "type": "subscribe",
                    "payload": { "query": SUBSCRIPTION, "variables": { "c": args.company, "a": after } } })
            })
            .collect();
        let mut resume = false;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            // Events are read without a full parse, so the client takes little CPU from the
            // server it measures (both share the machine).
            if text.contains("\"type\":\"next\"") && !text.contains("\"errors\"") {
                if let Some(cursor) = string_after(&text, "\"cursor\":\"") {
                    after = Some(cursor.to_owned());
                }
                if text.contains("\"row.created\"") {
                    rows_seen.fetch_add(1, Ordering::Relaxed);
                } else if let Some(name) = string_after(&text, "\"summary\":\"Project ") {
                    let name = name.trim_end_matches(" created");
                    let sent = shared.sent.lock().unwrap().get(name).copied();
                    if let Some((sent, answered)) = sent {
                        let now = Instant::now();
                        let ms = |from: Instant| now.saturating_duration_since(from).as_secs_f64() * 1000.0;
                        // Delivered before the answer reached the client: 0 ms after it.
                        let after_answer = answered.map_or(0.0, ms);
                        shared.latencies_ms.lock().unwrap().push((ms(sent), after_answer));
                    }
                }
                continue;
            }
            let value: Value = serde_json::from_str(&text).unwrap();
            match value["type"].as_str() {
                Some("connection_ack") => {
                    if after.is_none() {
                        shared.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    if args.connect_only {
                        continue;
                    }
                    for message in &subscribe {
                        socket
                            .send(Message::Text(message.to_string().into()))
                            .await
                            .unwrap();
                    }
                }
                Some("next") if !value["payload"]["errors"].is_null() => {
                    resume = true;
                    shared.resumed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some("complete") => break,
                _ => {}
            }
        }
        if !resume {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// The client's sockets read in small steps: tungstenite's default reads up to 128 KB at
/// once and zeroes that room before each read, which on this machine took the client more
/// CPU than everything else it does, from the server it measures. (They also send without
/// Nagle's delay, which touches only their few subscribe messages.)
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

/// The JSON string value that starts right after `marker`.
fn string_after<'t>(text: &'t str, marker: &str) -> Option<&'t str> {
    let start = text.find(marker)? + marker.len();
    let end = text[start..].find('"')?;
    Some(&text[start..start + end])
}

async fn gql(client: &reqwest::Client, args: &Args, query: &str, variables: Value) -> Value {
    client
        .post(&args.http)
        .bearer_auth(&args.token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until `count` subscribers are acknowledged (or failed), then a moment more for
/// their subscriptions to be set up.
async fn settle(shared: &Shared, count: usize) {
    while shared.acked.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// The server's memory once it stops growing (its subscriptions' setups read the database
/// after their sockets are acknowledged): read every second until it grew less than 256 KB,
/// for at most 30 s.
async fn steady(memory: &impl Fn() -> (u64, u64)) -> (u64, u64) {
    let mut last = memory();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = memory();
        if now.0.saturating_sub(last.0) < 256 {
            return now;
        }
        last = now;
    }
    last
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let args = Arc::new(args());
    let shared = Arc::new(Shared::default());
    let client = reqwest::Client::new();

    // 1. Memory per subscription: the server's memory before, halfway and after. The second
    //    half's growth is the cost of one more subscription, whatever memory the server had
    //    already touched and freed before the first (which the first ones reuse).
    let memory = || (status_kb(args.pid, "RssAnon:"), status_kb(args.pid, "VmRSS:"));
    let before = memory();
    let sockets = args.subscribers / args.per_socket;
    let mut tasks = Vec::with_capacity(sockets);
    let counters: Vec<Arc<AtomicU64>> = (0..sockets).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let started = Instant::now();
    let half = sockets / 2;
    let mut halfway = before;
    for (n, counter) in counters.iter().enumerate() {
        tasks.push(tokio::spawn(subscriber(
            Arc::clone(&args),
            Arc::clone(&shared),
            Arc::clone(counter),
            n,
        )));
        if n % 200 == 199 {
            while shared.acked.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed)
                < n.saturating_sub(400)
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if n + 1 == half {
            settle(&shared, half).await;
            halfway = steady(&memory).await;
        }
    }
    settle(&shared, sockets).await;
    let after = steady(&memory).await;
    let per = |from: u64, to: u64, count: usize| to.saturating_sub(from) as f64 / count as f64;
    println!(
        "subscriptions: {} open over {} sockets in {:.1} s, {} errors; server heap (RssAnon) {} -> {} -> {} MB: {:.1} KB per \
         subscription over the second half, {:.1} KB over all; all resident memory (VmRSS) {} -> {} MB: {:.1} KB \
         per subscription over all",
        shared.acked.load(Ordering::Relaxed) * args.per_socket,
        shared.acked.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        shared.errors.load(Ordering::Relaxed),
        before.0 / 1024,
        halfway.0 / 1024,
        after.0 / 1024,
        per(halfway.0, after.0, (sockets - half) * args.per_socket),
        per(before.0, after.0, args.subscribers),
        before.1 / 1024,
        after.1 / 1024,
        per(before.1, after.1, args.subscribers),
    );

    if args.connect_only {
        std::process::exit(0);
    }

    // 2. One event to every subscriber, several times.
    let create = "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }";
    for k in 0..args.fanout_events {
        let name = format!("Fanout {k}");
        shared
            .sent
            .lock()
            .unwrap()
            .insert(name.clone(), (Instant::now(), None));
        gql(&client, &args, create, json!({ "c": args.company, "n": name })).await;
        if let Some(sent) = shared.sent.lock().unwrap().get_mut(&name) {
            sent.1 = Some(Instant::now());
        }
        let expected = (k + 1) * args.subscribers;
        let deadline = Instant::now() + Duration::from_secs(10);
        while shared.latencies_ms.lock().unwrap().len() < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let latencies = shared.latencies_ms.lock().unwrap().clone();
    let sorted = |pick: fn(&(f64, f64)) -> f64| {
        let mut ms: Vec<f64> = latencies.iter().map(pick).collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let (from_request, from_answer) = (sorted(|l| l.0), sorted(|l| l.1));
    println!(
        "fan-out: {} events x {} subscribers: {} deliveries (expected {}); from the mutation's request p50 {:.0} ms, \
         p99 {:.0} ms, max {:.0} ms; from its answer first {:.0} ms, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        args.fanout_events,
        args.subscribers,
        latencies.len(),
        args.fanout_events * args.subscribers,
        percentile(&from_request, 0.5),
        percentile(&from_request, 0.99),
        from_request.last().copied().unwrap_or(f64::NAN),
        percentile(&from_answer, 0.0),
        percentile(&from_answer, 0.5),
        percentile(&from_answer, 0.99),
        from_answer.last().copied().unwrap_or(f64::NAN)
    );

    // 3. Sustained mutations with fewer subscribers.
    let kept_sockets = (args.sustained_subscribers / args.per_socket).min(sockets);
    for task in tasks.drain(kept_sockets..) {
        task.abort();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kept = &counters[..kept_sockets];
    let insert = "mutation($t: ID!, $r: [JSON!]!) { insertRows(tableId: $t, rows: $r) { id } }";
    let (cpu_before, client_cpu_before) = (cpu_seconds(args.pid), cpu_seconds(std::process::id()));
    let written = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers = 100u64;
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..workers {
        let (client, args, written, failed) = (
            client.clone(),
            Arc::clone(&args),
            Arc::clone(&written),
            Arc::clone(&failed),
        );
        writers.push(tokio::spawn(async move {
            let period = Duration::from_secs_f64(workers as f64 / args.rate as f64);
            let mut ticks = tokio::time::interval_at(
                tokio::time::Instant::now() + period * w as u32 / workers as u32,
                period,
            );
            let end = Instant::now() + Duration::from_secs(args.seconds);
            while Instant::now() < end {
                ticks.tick().await;
                let answer = gql(
                    &client,
                    &args,
                    insert,
                    json!({ "t": args.table, "r": [{ "site": "bench" }] }),
                )
                .await;
                if answer["errors"].is_null() {
                    written.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = written.load(Ordering::Relaxed);
    // Each socket hears every event once per subscription.
    let each = total * args.per_socket as u64;
    // Delivery continues after the writers stop; wait while it makes progress.
    let drain_started = Instant::now();
    let mut last_sum = 0;
    let mut idle_since = Instant::now();
    while kept.iter().any(|c| c.load(Ordering::Relaxed) < each)
        && idle_since.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sum: u64 = kept.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        if sum != last_sum {
            last_sum = sum;
            idle_since = Instant::now();
        }
    }
    let drained = drain_started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(args.pid) - cpu_before;
    let client_cpu = cpu_seconds(std::process::id()) - client_cpu_before;
    let counts: Vec<u64> = kept.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let complete = counts.iter().filter(|c| **c == each).count();
    println!(
        "sustained: {} mutations scheduled at {}/s for {} s ({:.0}/s over those {} s, the last answered at {:.1} s, \
         {} failed) with {} subscribers: {} received every event (min {}, max {} per socket) {:.1} s after the last \
         mutation; {} resumed by cursor after falling behind; server CPU {:.1} s in all, {:.2} µs per delivered message \
         (this client's: {:.1} s, {:.2} µs)",
        total,
        args.rate,
        args.seconds,
        total as f64 / args.seconds as f64,
        args.seconds,
        elapsed,
        failed.load(Ordering::Relaxed),
        kept_sockets * args.per_socket,
        complete * args.per_socket,
        counts.iter().min().unwrap_or(&0),
        counts.iter().max().unwrap_or(&0),
        drained,
        shared.resumed.load(Ordering::Relaxed),
        cpu,
        cpu * 1e6 / counts.iter().sum::<u64>().max(1) as f64,
        client_cpu,
        client_cpu * 1e6 / counts.iter().sum::<u64>().max(1) as f64
    );
    std::process::exit(0);
}
