//! `warroom export`: one organisation's rows of one table over a time range, read from
//! the database (the system of record) into a single Parquet, CSV or JSON file.
//!
//! The file is written under a temporary name beside the destination and renamed when
//! complete, so a failed or interrupted export never leaves a file that looks whole.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use warroom_engine::{Config, OrgId};
use warroom_storage::archive::{ExportFormat, ExportQuery, ExportStats, Table};
use warroom_storage::store_export::{stream_export, StoreRows};

/// What to export, as the command line gives it.
#[derive(Debug, Clone)]
pub struct ExportArgs {
    /// Organisation id.
    pub org: String,
    /// Start of the range (RFC 3339), inclusive.
    pub from: String,
    /// End of the range (RFC 3339), exclusive.
    pub to: String,
    /// `mentions`, `campaign_data` or `kpi_buckets`.
    pub table: String,
    /// Destination file.
    pub out: PathBuf,
    /// `parquet`, `csv`, `json` (one array) or `ndjson`; from the extension when absent.
    pub format: Option<String>,
}

/// The format a name or a file extension stands for.
pub fn format_for(explicit: Option<&str>, out: &Path) -> anyhow::Result<ExportFormat> {
    let name = match explicit {
        Some(name) => name.to_owned(),
        None => out
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .with_context(|| {
                format!(
                    "{} has no extension: pass --format parquet|csv|json|ndjson",
                    out.display()
                )
            })?,
    };
    match name.as_str() {
        "parquet" => Ok(ExportFormat::Parquet),
        "csv" => Ok(ExportFormat::Csv),
        "json" => Ok(ExportFormat::JsonArray),
        "ndjson" | "jsonl" => Ok(ExportFormat::Json),
        other => bail!("unknown export format {other:?}: one of parquet, csv, json, ndjson"),
    }
}

fn instant(flag: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("--{flag} {value:?} is not an RFC 3339 instant such as 2024-05-01T00:00:00Z")
        })
}

/// Checks the arguments (format, table, organisation, range) without touching anything.
pub fn parse(args: &ExportArgs) -> anyhow::Result<(ExportQuery, ExportFormat)> {
    let format = format_for(args.format.as_deref(), &args.out)?;
    let table = Table::parse(&args.table).with_context(|| {
        format!(
            "unknown table {:?}: one of mentions, campaign_data, kpi_buckets",
            args.table
        )
    })?;
    let org = OrgId::parse(&args.org)
        .map_err(|reason| anyhow::anyhow!("invalid organisation {:?}: {reason}", args.org))?;
    let from = instant("from", &args.from)?;
    let to = instant("to", &args.to)?;
    if from >= to {
        bail!("--from {from} must be before --to {to}");
    }
    Ok((
        ExportQuery {
            table,
            org,
            from,
            to,
        },
        format,
    ))
}

/// Runs an export against the configured database; progress goes to stderr.
pub async fn run(config: &Config, args: &ExportArgs) -> anyhow::Result<ExportStats> {
    let (query, format) = parse(args)?;
    let shown = config.database.redacted_url();
    let store = warroom_storage::open_store(&config.database.url)
        .await
        .with_context(|| format!("opening the database {shown}"))?;
    let known = store
        .organizations()
        .await
        .with_context(|| format!("reading organisations from {shown}"))?;
    if !known.iter().any(|o| o.id == query.org) {
        let names: Vec<String> = known.iter().map(|o| o.id.to_string()).collect();
        bail!(
            "no organisation {} in {shown} (known: {})",
            query.org,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
    }
    // The persisted data mode's rows (the configuration's mode on a database that never
    // stored one): an export never mixes mock and live records.
    let mode = warroom_actors::runtime::data_mode::read(store.as_ref())
        .await
        .map_err(anyhow::Error::msg)?
        .unwrap_or(config.data.mode);
    let rows = StoreRows::new(store.clone(), query.clone(), mode, config.export.page_rows)?;

    let dir = match args.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = args
        .out
        .file_name()
        .with_context(|| format!("{} is not a file name", args.out.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let table = query.table;
    let result = stream_export(rows, None, format, BufWriter::new(file), move |n| {
        eprint!("\r{table}: {n} rows");
    })
    .await;
    eprintln!();
    store.close().await;
    match result {
        Ok(stats) => {
            std::fs::rename(&tmp, &args.out)
                .with_context(|| format!("renaming {} to {}", tmp.display(), args.out.display()))?;
            Ok(stats)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e).context("export failed; no file was written")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(format: Option<&str>, out: &str) -> ExportArgs {
        ExportArgs {
            org: "demo".into(),
            from: "2024-05-01T00:00:00Z".into(),
            to: "2024-05-02T00:00:00Z".into(),
            table: "mentions".into(),
            out: out.into(),
            format: format.map(str::to_owned),
        }
    }

    #[test]
    fn format_comes_from_the_extension_unless_given() {
        assert_eq!(
            parse(&args(None, "a.parquet")).unwrap().1,
            ExportFormat::Parquet
        );
        assert_eq!(parse(&args(None, "a.CSV")).unwrap().1, ExportFormat::Csv);
        assert_eq!(
            parse(&args(None, "a.json")).unwrap().1,
            ExportFormat::JsonArray
        );
        assert_eq!(
            parse(&args(None, "a.ndjson")).unwrap().1,
            ExportFormat::Json
        );
        assert_eq!(
            parse(&args(Some("csv"), "a.out")).unwrap().1,
            ExportFormat::Csv
        );
        assert!(parse(&args(None, "a")).is_err());
        assert!(parse(&args(None, "a.xlsx")).is_err());
    }

    #[test]
    fn bad_tables_orgs_and_ranges_are_refused() {
        let mut a = args(None, "a.csv");
        a.table = "users".into();
        assert!(parse(&a).unwrap_err().to_string().contains("unknown table"));
        let mut a = args(None, "a.csv");
        a.org = "../x".into();
        assert!(parse(&a)
            .unwrap_err()
            .to_string()
            .contains("invalid organisation"));
        let mut a = args(None, "a.csv");
        a.to = a.from.clone();
        assert!(parse(&a).unwrap_err().to_string().contains("before"));
        let mut a = args(None, "a.csv");
        a.from = "yesterday".into();
        assert!(parse(&a).unwrap_err().to_string().contains("RFC 3339"));
    }
}
