//! Reading factor files in the two layouts that can be imported, told apart by their header:
//! the shipped defaults' own (`key,label,value,unit,…`, one version per line) and the DESNZ
//! flat file (`ID, Scope, Level 1–4, Column Text, UOM, GHG/Unit, GHG Conversion Factor
//! <year>`, one line per activity, unit and gas), whose lines become keys through a small
//! mapping file. Every bad line is reported by its line in its file; nothing is stored here.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::service::{FactorDraft, is_factor_key};
use crate::error::{AppError, AppResult};
use crate::rows::import::LineError;

/// Largest factor file read (the DESNZ flat file is about 2 MB).
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// Most lines a factor or mapping file may hold.
const MAX_LINES: usize = 100_000;
/// Who publishes the DESNZ flat file, and under which licence.
const DESNZ_SOURCE: &str = "UK Government GHG Conversion Factors for Company Reporting (DESNZ)";
const DESNZ_LICENCE: &str = "Open Government Licence v3.0";
/// The columns a mapping line may select DESNZ lines by (as [`column_name`] writes them).
const SELECTORS: [&str; 9] = [
    "id",
    "scope",
    "level1",
    "level2",
    "level3",
    "level4",
    "columntext",
    "uom",
    "ghgunit",
];
/// The shipped layout's columns: those every line must fill, then the optional ones.
const REQUIRED: [&str; 5] = ["key", "label", "value", "unit", "source"];
const OPTIONAL: [&str; 6] = [
    "basis",
    "sourceyear",
    "licence",
    "validfrom",
    "validto",
    "provenance",
];

/// The factor versions read from a file, each with the line it came from, and every line
/// that could not be read.
#[derive(Debug, Default)]
pub struct ReadFactors {
    pub drafts: Vec<(usize, FactorDraft)>,
    pub errors: Vec<LineError>,
}

/// What the importer says about the period of DESNZ lines (by default the file's year).
#[derive(Debug, Clone, Default)]
pub struct Period {
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

/// One record of a CSV file: its line, and its cells or why it could not be read.
type Record = (usize, Result<Vec<String>, String>);

/// Reads a factor file in either layout (`mapping` is required for, and only taken with, the
/// DESNZ flat file). A file that cannot be read as a whole is BAD_USER_INPUT at `csv` or
/// `mapping`.
pub fn read(file: &[u8], mapping: Option<&[u8]>, period: &Period) -> AppResult<ReadFactors> {
    let lines = records(file, "csv")?;
    if let Some(header_at) = lines.iter().position(|(_, cells)| is_desnz_header(cells)) {
        let Some(mapping) = mapping else {
            return Err(AppError::invalid(
                "mapping",
                "a DESNZ flat file needs a mapping file: a CSV with a key column and the columns (ID, Level 1–4, Column Text, UOM, GHG/Unit) that pick each key's line",
            ));
        };
        return read_desnz(&lines, header_at, &records(mapping, "mapping")?, period);
    }
    if mapping.is_some() {
        return Err(AppError::invalid(
            "mapping",
            "only a DESNZ flat file takes a mapping; this file names its keys itself",
        ));
    }
    if period.valid_from.is_some() || period.valid_to.is_some() {
        return Err(AppError::invalid(
            "validFrom",
            "only a DESNZ flat file takes a period; this file gives each version's own",
        ));
    }
    read_shipped(&lines)
}

/// Every record of a CSV file with the line it starts on; blank lines are skipped.
fn records(bytes: &[u8], path: &str) -> AppResult<Vec<Record>> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let cells = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => Ok(record
                .iter()
                .map(|cell| cell.trim().to_owned())
                .collect::<Vec<_>>()),
            Err(err) if matches!(err.kind(), csv::ErrorKind::Utf8 { .. }) => {
                Err("is not valid UTF-8".to_owned())
            }
            Err(_) => Err("is not a valid CSV line".to_owned()),
        };
        let position = record.position().unwrap_or_else(|| reader.position());
        let line = usize::try_from(position.line()).unwrap_or(usize::MAX);
        if cells
            .as_ref()
            .is_ok_and(|cells| cells.iter().all(String::is_empty))
        {
            continue;
        }
        if records.len() == MAX_LINES {
            return Err(AppError::invalid(
                path,
                format!("holds more than {MAX_LINES} lines; split it"),
            ));
        }
        records.push((line, cells));
    }
    if records.is_empty() {
        return Err(AppError::invalid(path, "the file is empty"));
    }
    Ok(records)
}

/// A header cell as compared: lower-case letters and digits only (`GHG/Unit` is `ghgunit`).
fn column_name(cell: &str) -> String {
    cell.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A cell as matched against a mapping: spaces collapsed, any case.
fn matchable(cell: &str) -> String {
    cell.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The year of a `GHG Conversion Factor <year>` header cell.
fn factor_year(column: &str) -> Option<i32> {
    column
        .strip_prefix("ghgconversionfactor")
        .and_then(|year| year.parse().ok())
        .filter(|year| (1990..=2200).contains(year))
}

fn is_desnz_header(cells: &Result<Vec<String>, String>) -> bool {
    let Ok(cells) = cells else {
        return false;
    };
    let names: Vec<String> = cells.iter().map(|cell| column_name(cell)).collect();
    names.iter().any(|name| name == "id")
        && names.iter().any(|name| name == "uom")
        && names.iter().any(|name| name.starts_with("ghgconversionfactor"))
}

/// Where each named column is, or BAD_USER_INPUT at `path` for one it does not know or
/// repeats.
fn columns(header: &[String], known: &[&str], path: &str) -> AppResult<HashMap<String, usize>> {
    let mut at = HashMap::new();
    for (index, cell) in header.iter().enumerate() {
        let name = column_name(cell);
        if !known.contains(&name.as_str()) {
            return Err(AppError::invalid(
                path,
                format!(
                    "column {} ({cell}) is not one of: {}",
                    index + 1,
                    known.join(", ")
                ),
            ));
        }
        if at.insert(name, index).is_some() {
            return Err(AppError::invalid(
                path,
                format!("column {} ({cell}) is repeated", index + 1),
            ));
        }
    }
    Ok(at)
}

/// A record's cells, or the line error that says why it has none or too few.
fn cells_of(record: &Record, width: usize) -> Result<&[String], LineError> {
    let (line, cells) = record;
    match cells {
        Ok(cells) if cells.len() >= width => Ok(cells),
        Ok(cells) => Err(LineError {
            line: *line,
            field: None,
            message: format!("has {} cells; the header has {width}", cells.len()),
        }),
        Err(message) => Err(LineError {
            line: *line,
            field: None,
            message: message.clone(),
        }),
    }
}

/// The shipped layout: each line is a version; a `provenance` is kept with its source.
fn read_shipped(records: &[Record]) -> AppResult<ReadFactors> {
    let (_, header) = &records[0];
    let header = header
        .as_ref()
        .map_err(|message| AppError::invalid("csv", format!("the header {message}")))?;
    let known: Vec<&str> = REQUIRED.iter().chain(OPTIONAL.iter()).copied().collect();
    let at = columns(header, &known, "csv")?;
    if let Some(missing) = REQUIRED.iter().find(|name| !at.contains_key(**name)) {
        return Err(AppError::invalid(
            "csv",
            format!(
                "the header has no {missing} column (a factor file names key, label, value, unit and source, or is a DESNZ flat file)"
            ),
        ));
    }
    let mut read = ReadFactors::default();
    for record in &records[1..] {
        let cells = match cells_of(record, header.len()) {
            Ok(cells) => cells,
            Err(error) => {
                read.errors.push(error);
                continue;
            }
        };
        let cell = |name: &str| {
            at.get(name)
                .map(|&index| cells[index].clone())
                .unwrap_or_default()
        };
        let optional = |name: &str| Some(cell(name)).filter(|value| !value.is_empty());
        let source_year = match optional("sourceyear").map(|year| year.parse::<i32>()) {
            None => None,
            Some(Ok(year)) => Some(year),
            Some(Err(_)) => {
                read.errors.push(LineError {
                    line: record.0,
                    field: Some("sourceYear".to_owned()),
                    message: "must be a year like 2025".to_owned(),
                });
                continue;
            }
        };
        let source = match optional("provenance") {
            Some(provenance) => format!("{} ({provenance})", cell("source")),
            None => cell("source"),
        };
        read.drafts.push((
            record.0,
            FactorDraft {
                key: cell("key"),
                label: cell("label"),
                value: cell("value"),
                unit: cell("unit"),
                source,
                source_year,
                licence: optional("licence"),
                basis: optional("basis"),
                valid_from: optional("validfrom"),
                valid_to: optional("validto"),
            },
        ));
    }
    Ok(read)
}

/// A mapping line: the key it gives, an optional label, and what it selects by.
struct Selection {
    line: usize,
    key: String,
    label: Option<String>,
    by: Vec<(String, String)>,
}

/// The mapping file's lines, or BAD_USER_INPUT at `mapping` for a header it cannot use.
fn selections(mapping: &[Record], errors: &mut Vec<LineError>) -> AppResult<Vec<Selection>> {
    let (_, header) = &mapping[0];
    let header = header
        .as_ref()
        .map_err(|message| AppError::invalid("mapping", format!("the header {message}")))?;
    let known: Vec<&str> = ["key", "label"].iter().chain(SELECTORS.iter()).copied().collect();
    let at = columns(header, &known, "mapping")?;
    if !at.contains_key("key") || !SELECTORS.iter().any(|name| at.contains_key(*name)) {
        return Err(AppError::invalid(
            "mapping",
            "the header needs a key column and at least one of ID, Scope, Level 1–4, Column Text, UOM, GHG/Unit",
        ));
    }
    let mut selections = Vec::new();
    for record in &mapping[1..] {
        let mapping_error = |message: String| LineError {
            line: record.0,
            field: Some("mapping".to_owned()),
            message,
        };
        let cells = match cells_of(record, header.len()) {
            Ok(cells) => cells,
            Err(error) => {
                errors.push(mapping_error(error.message));
                continue;
            }
        };
        let key = cells[at["key"]].clone();
        if !is_factor_key(&key) {
            errors.push(mapping_error(format!(
                "key {key:?} must be lower-case: a letter, then letters, digits, _ or . (at most 64)"
            )));
            continue;
        }
        let by: Vec<(String, String)> = SELECTORS
            .iter()
            .filter_map(|name| {
                at.get(*name)
                    .map(|&index| (name.to_string(), matchable(&cells[index])))
            })
            .filter(|(_, value)| !value.is_empty())
            .collect();
        if by.is_empty() {
            errors.push(mapping_error(format!(
                "key {key} selects no line: fill at least one column"
            )));
            continue;
        }
        let label = at
            .get("label")
            .map(|&index| cells[index].clone())
            .filter(|label| !label.is_empty());
        selections.push(Selection {
            line: record.0,
            key,
            label,
            by,
        });
    }
    Ok(selections)
}

/// The DESNZ flat file: the lines the mapping selects become versions of its keys, valid for
/// the file's year unless `period` says otherwise. Lines it does not select are ignored.
fn read_desnz(
    records: &[Record],
    header_at: usize,
    mapping: &[Record],
    period: &Period,
) -> AppResult<ReadFactors> {
    let mut read = ReadFactors::default();
    let (_, header) = &records[header_at];
    let header = header
        .as_ref()
        .map_err(|message| AppError::invalid("csv", message.clone()))?;
    let names: Vec<String> = header.iter().map(|cell| column_name(cell)).collect();
    let Some((value_at, year)) = names
        .iter()
        .enumerate()
        .find_map(|(index, name)| factor_year(name).map(|year| (index, year)))
    else {
        return Err(AppError::invalid(
            "csv",
            "the header's GHG Conversion Factor column names no year (e.g. GHG Conversion Factor 2025)",
        ));
    };
    let at: HashMap<&str, usize> = SELECTORS
        .iter()
        .filter_map(|selector| {
            names
                .iter()
                .position(|name| name == selector)
                .map(|index| (*selector, index))
        })
        .collect();
    let lines: Vec<(usize, &[String])> = records[header_at + 1..]
        .iter()
        .filter_map(|record| match cells_of(record, header.len()) {
            Ok(cells) => Some((record.0, cells)),
            Err(error) => {
                read.errors.push(error);
                None
            }
        })
        .collect();
    let selected = |selection: &Selection, cells: &[String]| {
        selection.by.iter().all(|(name, wanted)| {
            at.get(name.as_str())
                .is_some_and(|&index| matchable(&cells[index]) == *wanted)
        })
    };
    let cell = |cells: &[String], name: &str| {
        at.get(name)
            .map(|&index| cells[index].clone())
            .unwrap_or_default()
    };
    let valid_from = period.valid_from.or_else(|| NaiveDate::from_ymd_opt(year, 1, 1));
    let valid_to = period.valid_to.or_else(|| NaiveDate::from_ymd_opt(year, 12, 31));
    for selection in selections(mapping, &mut read.errors)? {
        let matched: Vec<&(usize, &[String])> = lines
            .iter()
            .filter(|(_, cells)| selected(&selection, cells))
            .collect();
        let (line, cells) = match matched.as_slice() {
            [one] => **one,
            [] => {
                read.errors.push(LineError {
                    line: selection.line,
                    field: Some("mapping".to_owned()),
                    message: format!("key {} matches no line of the file", selection.key),
                });
                continue;
            }
            many => {
                let found: Vec<String> = many.iter().take(5).map(|(line, _)| line.to_string()).collect();
                read.errors.push(LineError {
                    line: selection.line,
                    field: Some("mapping".to_owned()),
                    message: format!(
                        "key {} matches {} lines of the file (lines {}…): add columns (UOM, GHG/Unit, Level 4, Column Text) to pick one",
                        selection.key,
                        many.len(),
                        found.join(", ")
                    ),
                });
                continue;
            }
        };
        let label = selection.label.clone().unwrap_or_else(|| {
            ["level1", "level2", "level3", "level4", "columntext"]
                .iter()
                .map(|name| cell(cells, name))
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        });
        let scope = cell(cells, "scope");
        let basis = format!("{} per {}", cell(cells, "ghgunit"), cell(cells, "uom"));
        read.drafts.push((
            line,
            FactorDraft {
                key: selection.key,
                label,
                value: cells[value_at].clone(),
                unit: cell(cells, "uom"),
                source: format!("{DESNZ_SOURCE} {year}, flat file, ID {}", cell(cells, "id")),
                source_year: Some(year),
                licence: Some(DESNZ_LICENCE.to_owned()),
                basis: Some(if scope.is_empty() {
                    basis
                } else {
                    format!("{basis} ({scope})")
                }),
                valid_from: valid_from.map(|day| day.to_string()),
                valid_to: valid_to.map(|day| day.to_string()),
            },
        ));
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESNZ: &str = "\
Conversion factors 2025: flat file,,,,,,,,,
,,,,,,,,,
ID,Scope,Level 1,Level 2,Level 3,Level 4,Column Text,UOM,GHG/Unit,GHG Conversion Factor 2025
1,Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,litres,kg CO2e,2.57082
2,Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,litres,kg CO2e of CO2 per unit,2.53
3,Scope 1,Fuels,Liquid fuels,Diesel (average biofuel blend),,,tonnes,kg CO2e,3100.5
4,Scope 2,UK electricity,Electricity generated,Electricity: UK,,,kWh,kg CO2e,0.177
";

    fn desnz(mapping: &str) -> AppResult<ReadFactors> {
        read(DESNZ.as_bytes(), Some(mapping.as_bytes()), &Period::default())
    }

    #[test]
    fn a_mapping_picks_desnz_lines_by_their_columns_with_the_files_year_and_citation() {
        let read = desnz(
            "key,Level 3,UOM,GHG/Unit\n\
             diesel_litre,diesel (average  biofuel blend),Litres,kg CO2e\n\
             uk_electricity_kwh,Electricity: UK,kWh,\n",
        )
        .unwrap();
        assert!(read.errors.is_empty(), "{:?}", read.errors);
        let (line, diesel) = &read.drafts[0];
        assert_eq!(*line, 4);
        assert_eq!(diesel.key, "diesel_litre");
        assert_eq!(diesel.value, "2.57082");
        assert_eq!(diesel.unit, "litres");
        assert_eq!(
            diesel.label,
            "Fuels, Liquid fuels, Diesel (average biofuel blend)"
        );
        assert_eq!(diesel.basis.as_deref(), Some("kg CO2e per litres (Scope 1)"));
        assert!(diesel.source.contains("DESNZ) 2025, flat file, ID 1"));
        assert_eq!(diesel.source_year, Some(2025));
        assert_eq!(diesel.valid_from.as_deref(), Some("2025-01-01"));
        assert_eq!(diesel.valid_to.as_deref(), Some("2025-12-31"));
        assert_eq!(read.drafts[1].0, 7);
        assert_eq!(read.drafts[1].1.value, "0.177");
    }

    #[test]
    fn every_mapping_line_that_matches_none_or_many_is_reported_at_its_line() {
        let read = desnz(
            "key,Level 3,ID\n\
             diesel_any,Diesel (average biofuel blend),\n\
             petrol_litre,Petrol,\n\
             Bad Key,,1\n\
             diesel_litre,,1\n",
        )
        .unwrap();
        let lines: Vec<(usize, &str)> = read.errors.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0].0, 4);
        assert!(lines[0].1.contains("must be lower-case"), "{lines:?}");
        assert_eq!(lines[1].0, 2);
        assert!(
            lines[1].1.contains("matches 3 lines of the file (lines 4, 5, 6"),
            "{lines:?}"
        );
        assert_eq!(lines[2], (3, "key petrol_litre matches no line of the file"));
        assert_eq!(read.drafts.len(), 1);
        assert_eq!(read.drafts[0].1.key, "diesel_litre");
    }

    #[test]
    fn the_shipped_layout_keeps_each_lines_provenance_with_its_source() {
        let file = "key,label,value,unit,basis,source,source_year,licence,valid_from,valid_to,provenance\n\
                    gas_kwh,Natural gas,0.18,kWh,kg CO2e per kWh,Somebody,2025,OGL,2025-01-01,,secondary quotation\n\
                    oil_litre,Oil,2.5,litre,,Somebody,twenty,,,,\n";
        let read = read(file.as_bytes(), None, &Period::default()).unwrap();
        assert_eq!(read.drafts.len(), 1);
        assert_eq!(read.drafts[0].1.source, "Somebody (secondary quotation)");
        assert_eq!(read.drafts[0].1.valid_to, None);
        assert_eq!(read.errors[0].line, 3);
        assert_eq!(read.errors[0].field.as_deref(), Some("sourceYear"));
    }

    #[test]
    fn files_that_cannot_be_read_as_a_whole_say_which_and_why() {
        let no_mapping = read(DESNZ.as_bytes(), None, &Period::default()).unwrap_err();
        assert_eq!(no_mapping.fields[0].path, "mapping");
        let stray = read(b"key,label,value,unit,source,colour\n", None, &Period::default()).unwrap_err();
        assert!(stray.fields[0].message.contains("column 6 (colour)"), "{stray:?}");
        let missing = read(b"key,label,value\n", None, &Period::default()).unwrap_err();
        assert!(
            missing.fields[0].message.contains("no unit column"),
            "{missing:?}"
        );
        let empty = read(b"\n\n", None, &Period::default()).unwrap_err();
        assert_eq!(empty.fields[0].path, "csv");
    }
}
