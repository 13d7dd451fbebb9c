//! CSV import into a table. The file is read on a blocking thread and handed over in
//! batches through a small channel, so memory stays bounded whatever its size. The header
//! names fields by key or label; each line is checked like an inserted row. ALL_OR_NOTHING
//! keeps nothing when any line is bad; SKIP_INVALID keeps the good lines. Either way the
//! answer names every bad line (up to a cap) and the import is recorded.

use std::fs::File;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::model::ImportRow;
use super::service::{Candidate, TableAccess, open_cycle, store_candidates, table_access};
use super::values::ValueError;
use super::{indexes, store};
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity, Notice};
use crate::pagination::{Page, PageRequest};
use crate::rbac::catalog::Action;

/// Lines handed over (and stored) at a time.
const BATCH_LINES: usize = 1_000;
/// Seconds a refused import is told to wait before trying again.
const IMPORT_RETRY_SECS: u64 = 30;
/// Most bad lines described in the answer; the count covers them all.
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// What to do with the good lines when some are bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Store nothing unless every line is good.
    AllOrNothing,
    /// Store the good lines, report the bad ones.
    SkipInvalid,
}

impl ImportMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::AllOrNothing => "all_or_nothing",
            Self::SkipInvalid => "skip_invalid",
        }
    }
}

/// Why one line was refused.
#[derive(Debug, Clone)]
pub struct LineError {
    /// The line in the file (the header is line 1).
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

impl LineError {
    /// A bad value on a line.
    fn of_value(line: usize, problem: ValueError) -> Self {
        Self {
            line,
            field: Some(problem.key),
            message: problem.message,
        }
    }
}

/// The outcome of an import.
#[derive(Debug)]
pub struct ImportReport {
    pub import_id: Uuid,
    pub inserted: usize,
    pub rejected: usize,
    pub errors: Vec<LineError>,
}

/// What the reader thread hands over.
enum Chunk {
    Header(Vec<String>),
    Lines(Vec<(usize, Result<Vec<String>, String>)>),
    /// The file holds more lines than allowed.
    TooLong,
}

/// How a file ends its lines, judged from its first 64 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEndings {
    Lf,
    Crlf,
    /// A carriage return alone (old Mac exports).
    Cr,
}

impl LineEndings {
    fn of(start: &[u8]) -> Self {
        if start.windows(2).any(|pair| pair == b"\r\n") {
            Self::Crlf
        } else if !start.contains(&b'\n') && start.contains(&b'\r') {
            Self::Cr
        } else {
            Self::Lf
        }
    }
}

/// A file that ends its lines with `\r` alone, read as if it ended them with `\n`.
struct CrAsLf<R>(R);

impl<R: std::io::Read> std::io::Read for CrAsLf<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.0.read(buffer)?;
        for byte in &mut buffer[..read] {
            if *byte == b'\r' {
                *byte = b'\n';
            }
        }
        Ok(read)
    }
}

/// Reads the CSV file, sending the header and then batches of lines. Records end at `\n`
/// (a CRLF file's `\r` is taken off each record's last cell; a CR file's line ends are
/// read as `\n`), so the reader counts every record's line from where it starts.
fn read_csv(file: File, max_lines: usize, out: mpsc::Sender<Chunk>) {
    use std::io::BufRead;
    let mut buffered = std::io::BufReader::with_capacity(64 * 1024, file);
    let endings = LineEndings::of(buffered.fill_buf().unwrap_or_default());
    let source: Box<dyn std::io::Read> = match endings {
        LineEndings::Cr => Box::new(CrAsLf(buffered)),
        LineEndings::Lf | LineEndings::Crlf => Box::new(buffered),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(source);
    let mut header_sent = false;
    let mut lines = 0usize;
    let mut batch = Vec::with_capacity(BATCH_LINES);
    let mut record = csv::StringRecord::new();
    loop {
        let cells = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let mut cells: Vec<String> = record.iter().map(str::to_owned).collect();
                if endings == LineEndings::Crlf
                    && let Some(last) = cells.last_mut()
                    && last.ends_with('\r')
                {
                    last.pop();
                }
                Ok(cells)
            }
            Err(err) if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) => {
                Err("is not valid UTF-8".to_owned())
            }
            Err(err) if matches!(err.kind(), csv::ErrorKind::Io(_)) => {
                tracing::warn!(error = %err, "reading an upload failed");
                break;
            }
            Err(_) => Err("is not a valid CSV line".to_owned()),
        };
        // Where the record began (a quoted cell may span lines); a record that failed to
        // parse has no position of its own, so the reader's stands in.
        let position = record.position().unwrap_or_else(|| reader.position());
        let line = usize::try_from(position.line()).unwrap_or(usize::MAX);
        if !header_sent {
            let header = cells.unwrap_or_default();
            header_sent = true;
            if out.blocking_send(Chunk::Header(header)).is_err() {
                return;
            }
            continue;
        }
        lines += 1;
        if lines > max_lines {
            let _ = out.blocking_send(Chunk::TooLong);
            return;
        }
        batch.push((line, cells));
        if batch.len() == BATCH_LINES
            && out
                .blocking_send(Chunk::Lines(std::mem::take(&mut batch)))
                .is_err()
        {
            return;
        }
    }
    if !header_sent {
        let _ = out.blocking_send(Chunk::Header(Vec::new()));
    }
    if !batch.is_empty() {
        let _ = out.blocking_send(Chunk::Lines(batch));
    }
}

/// Maps header cells to field keys (by key, or by label ignoring case).
fn map_header(header: &[String], access: &TableAccess) -> AppResult<Vec<String>> {
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(AppError::invalid(
            "csv",
            "the file is empty; its first line must name the fields",
        ));
    }
    let mut keys: Vec<String> = Vec::with_capacity(header.len());
    for (column, name) in header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        let rule = access.rules.field(name).or_else(|| {
            access
                .rules
                .fields
                .iter()
                .find(|f| f.spec.label.eq_ignore_ascii_case(name))
        });
        let Some(rule) = rule else {
            return Err(AppError::invalid(
                "csv",
                format!("column {} ({name}) is not a field of this table", column + 1),
            ));
        };
        if keys.contains(&rule.spec.key) {
            return Err(AppError::invalid(
                "csv",
                format!("column {} repeats the field {}", column + 1, rule.spec.key),
            ));
        }
        keys.push(rule.spec.key.clone());
    }
    Ok(keys)
}

/// The failure that undoes an ALL_OR_NOTHING import's rows (but not its record).
enum Undo {
    Rejected(Vec<LineError>, usize, usize),
    Failed(AppError),
}

impl From<diesel::result::Error> for Undo {
    fn from(err: diesel::result::Error) -> Self {
        Self::Failed(err.into())
    }
}

impl From<AppError> for Undo {
    fn from(err: AppError) -> Self {
        Self::Failed(err)
    }
}

/// Reads the lines and stores the good ones; returns (inserted, lines, errors, bad lines).
async fn load_lines(
    conn: &mut AsyncPgConnection,
    access: &TableAccess,
    actor: Actor,
    cycle_id: Option<Uuid>,
    keys: &[String],
    receiver: &mut mpsc::Receiver<Chunk>,
    now: DateTime<Utc>,
) -> Result<(usize, usize, Vec<LineError>, usize), AppError> {
    let (mut inserted, mut lines, mut bad_lines) = (0usize, 0usize, 0usize);
    let mut errors: Vec<LineError> = Vec::new();
    let report = |errors: &mut Vec<LineError>, error: LineError| {
        if errors.len() < MAX_REPORTED_ERRORS {
            errors.push(error);
        }
    };
    while let Some(chunk) = receiver.recv().await {
        let batch = match chunk {
            Chunk::Lines(batch) => batch,
            Chunk::TooLong => {
                return Err(AppError::invalid(
                    "csv",
                    "the file has more lines than one import may hold (IMPORT_MAX_LINES); split it",
                ));
            }
            Chunk::Header(_) => continue,
        };
        let mut candidates = Vec::with_capacity(batch.len());
        for (line, cells) in batch {
            lines += 1;
            let cells = match cells {
                Ok(cells) if cells.len() == keys.len() => Ok(cells),
                Ok(cells) if cells.iter().all(|c| c.trim().is_empty()) => {
                    lines -= 1;
                    continue;
                }
                Ok(cells) => Err(format!(
                    "has {} cells; the header has {}",
                    cells.len(),
                    keys.len()
                )),
                Err(message) => Err(message),
            };
            let cells = match cells {
                Ok(cells) => cells,
                Err(message) => {
                    bad_lines += 1;
                    report(
                        &mut errors,
                        LineError {
                            line,
                            field: None,
                            message,
                        },
                    );
                    continue;
                }
            };
            let object: Map<String, Value> = keys
                .iter()
                .zip(cells)
                .map(|(key, cell)| {
                    let value = if cell.trim().is_empty() {
                        Value::Null
                    } else {
                        Value::String(cell)
                    };
                    (key.clone(), value)
                })
                .collect();
            match access.rules.new_row(&Value::Object(object)) {
                Ok(cells) => candidates.push(Candidate {
                    position: line,
                    cells,
                }),
                Err(problems) => {
                    bad_lines += 1;
                    for problem in problems {
                        report(&mut errors, LineError::of_value(line, problem));
                    }
                }
            }
        }
        let (stored, problems) = store_candidates(conn, access, actor, cycle_id, candidates, now).await?;
        inserted += stored.len();
        bad_lines += problems
            .iter()
            .map(|p| p.0)
            .collect::<std::collections::HashSet<_>>()
            .len();
        for (line, problem) in problems {
            report(&mut errors, LineError::of_value(line, problem));
        }
    }
    errors.sort_by_key(|e| e.line);
    Ok((inserted, lines, errors, bad_lines))
}

/// Whether `actor` may import into the table (row:create, the project not archived) and
/// this instance has room for an import: asked before an upload's file is received, so
/// nobody streams a file that could not be used.
pub async fn may_import(app: &App, caller: &Caller, table_id: Uuid) -> AppResult<()> {
    let actor = caller.acting()?;
    if app.import_slots.available_permits() == 0 {
        return Err(server_busy(app));
    }
    tx::read(app, actor.scope(), async |conn| {
        table_access(conn, actor, table_id, Action::Create).await?;
        Ok(())
    })
    .await
}

/// The refusal of an import when this instance already runs `IMPORT_MAX_CONCURRENT`.
fn server_busy(app: &App) -> AppError {
    AppError::busy(
        format!(
            "this server already runs {} imports, its limit (IMPORT_MAX_CONCURRENT); try again when one finishes",
            app.config.import_max_concurrent
        ),
        IMPORT_RETRY_SECS,
    )
}

/// A page of the table's imports, oldest first (row:view).
pub async fn list_imports(
    app: &App,
    caller: &Caller,
    table_id: Uuid,
    page: PageRequest,
) -> AppResult<Page<ImportRow>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let access = table_access(conn, actor, table_id, Action::View).await?;
        let (rows, total) = store::imports(conn, access.table.id, page).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}

/// Imports a CSV file into the table (row:create), into `cycle_id` if given.
pub async fn import_csv(
    app: &App,
    caller: &Caller,
    table_id: Uuid,
    cycle_id: Option<Uuid>,
    file: File,
    mode: ImportMode,
) -> AppResult<ImportReport> {
    let actor = caller.acting()?;
    let Ok(_slot) = app.import_slots.try_acquire() else {
        return Err(server_busy(app));
    };
    let (sender, mut receiver) = mpsc::channel(2);
    let max_lines = app.config.import_max_lines;
    let reader = tokio::task::spawn_blocking(move || read_csv(file, max_lines, sender));
    let now = app.clock.now();
    let mut conn = app.pool.get().await?;
    let report = tx::within(&mut conn, actor.scope(), async |conn| {
            let mut access = table_access(conn, actor, table_id, Action::Create).await?;
            let per_company = app.config.import_max_per_company;
            if !store::take_import_slot(conn, access.project.company_id, per_company).await? {
                return Err(AppError::busy(
                    format!(
                        "the company already runs {per_company} imports, its limit (IMPORT_MAX_PER_COMPANY); try again when one finishes"
                    ),
                    IMPORT_RETRY_SECS,
                ));
            }
            let cycle = open_cycle(conn, cycle_id, access.project.id).await?;
            access.take_factors_for(cycle.as_ref(), now);
            let header = match receiver.recv().await {
                Some(Chunk::Header(header)) => header,
                _ => Vec::new(),
            };
            let keys = map_header(&header, &access)?;
            let outcome = conn
                .transaction::<_, Undo, _>(async |conn| {
                    let (inserted, lines, errors, bad) =
                        load_lines(conn, &access, actor, cycle_id, &keys, &mut receiver, now).await?;
                    if mode == ImportMode::AllOrNothing && bad > 0 {
                        return Err(Undo::Rejected(errors, lines, bad));
                    }
                    Ok((inserted, lines, errors, bad))
                })
                .await;
            let (inserted, lines, errors, bad, status) = match outcome {
                Ok((inserted, lines, errors, bad)) => (inserted, lines, errors, bad, "completed"),
                Err(Undo::Rejected(errors, lines, bad)) => (0, lines, errors, bad, "rejected"),
                Err(Undo::Failed(err)) => return Err(err),
            };
            let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
            let import = ImportRow {
                id: Uuid::new_v4(),
                table_id: access.table.id,
                cycle_id,
                actor_id: actor.user_id(),
                mode: mode.as_str().to_owned(),
                status: status.to_owned(),
                lines: count(lines),
                inserted: count(inserted),
                rejected: count(bad),
                created_at: now,
            };
            store::insert_import(conn, &import).await?;
            record_import(conn, actor, &access, &import).await?;
            Ok(ImportReport {
                import_id: import.id,
                inserted,
                rejected: bad,
                errors,
            })
        })
        .await;
    // The reader stops by itself once the channel closes; it holds nothing else.
    drop(reader);
    if report.as_ref().is_ok_and(|r| r.inserted > 0) {
        indexes::spawn_size_check(app, table_id);
    }
    report
}

/// One event for the whole import (with its counts) and a notification to the person who
/// started it (a key gets none). Imports do not list their rows as row changes: a grid reloads on the event.
async fn record_import(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    access: &TableAccess,
    import: &ImportRow,
) -> AppResult<()> {
    let table = &access.table.name;
    let outcome = if import.status == "rejected" {
        format!(
            "CSV import into {table} rejected: {} bad line(s) of {}, nothing inserted",
            import.rejected, import.lines
        )
    } else {
        format!(
            "CSV import into {table}: {} row(s) added, {} line(s) skipped",
            import.inserted, import.rejected
        )
    };
    let activity = Activity::new(
        access.project.company_id,
        Some(actor),
        Verb::RowImported,
        ("data_table", access.table.id),
        outcome.clone(),
    )
    .in_project(access.project.id)
    .data(json!({
        "tableId": access.table.id,
        "table": table,
        "importId": import.id,
        "status": import.status,
        "lines": import.lines,
        "inserted": import.inserted,
        "rejected": import.rejected,
    }));
    write::record(conn, import.created_at, activity).await?;
    let Some(user_id) = actor.user_id() else {
        return Ok(());
    };
    let notice = Notice {
        user_id,
        company_id: Some(access.project.company_id),
        kind: "import.finished",
        title: format!("Your import into {table} finished"),
        body: outcome,
        link: None,
    };
    write::notify(conn, import.created_at, vec![notice]).await
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, Write};

    use super::*;

    /// The line numbers and cells `read_csv` reports for `text`'s data lines.
    fn read(text: &str) -> Vec<(usize, Vec<String>)> {
        let mut file = tempfile::tempfile().expect("temporary file");
        file.write_all(text.as_bytes()).expect("written");
        file.rewind().expect("rewound");
        let (sender, mut receiver) = mpsc::channel(16);
        read_csv(file, 100, sender);
        let mut lines = Vec::new();
        while let Ok(chunk) = receiver.try_recv() {
            if let Chunk::Lines(batch) = chunk {
                lines.extend(
                    batch
                        .into_iter()
                        .map(|(line, cells)| (line, cells.expect("a valid line"))),
                );
            }
        }
        lines
    }

    fn lines_of(text: &str) -> Vec<usize> {
        read(text).into_iter().map(|(line, _)| line).collect()
    }

    #[test]
    fn a_crlf_file_keeps_its_cells_as_written() {
        let cells: Vec<Vec<String>> = read("site,note\r\nLeeds,\"two\r\nlines\"\r\nYork,\"x\"\r\n")
            .into_iter()
            .map(|(_, cells)| cells)
            .collect();
        assert_eq!(cells, [vec!["Leeds", "two\r\nlines"], vec!["York", "x"]]);
    }

    #[test]
    fn line_numbers_are_where_each_line_starts_whatever_the_line_endings() {
        assert_eq!(lines_of("site\nLeeds\nYork\n"), [2, 3], "plain newlines");
        assert_eq!(lines_of("site\r\nLeeds\r\nYork\r\n"), [2, 3], "CRLF");
        assert_eq!(lines_of("site\nLeeds\nYork"), [2, 3], "no final newline");
        assert_eq!(
            lines_of("site,note\nLeeds,\"two\nlines\"\nYork,x\n"),
            [2, 4],
            "a quoted cell spanning lines"
        );
        assert_eq!(
            lines_of("site,note\r\nLeeds,\"two\r\nlines\"\r\nYork,x\r\n"),
            [2, 4],
            "a quoted cell spanning CRLF lines"
        );
        assert_eq!(lines_of("site\rLeeds\rYork\r"), [2, 3], "carriage returns alone");
    }

    #[test]
    fn an_lf_file_keeps_a_quoted_cells_final_carriage_return() {
        let cells: Vec<Vec<String>> = read("site,note\nLeeds,\"x\r\"\n")
            .into_iter()
            .map(|(_, cells)| cells)
            .collect();
        assert_eq!(cells, [vec!["Leeds", "x\r"]]);
        let cr: Vec<Vec<String>> = read("site,note\rLeeds,a\rYork,b\r")
            .into_iter()
            .map(|(_, cells)| cells)
            .collect();
        assert_eq!(cr, [vec!["Leeds", "a"], vec!["York", "b"]]);
    }
}
