//! Where archive files live: partition directories, file names, listing and the sweep
//! of temporary files left by a crash.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use warroom_engine::model::OrgId;

use super::{ArchiveError, Table};

const PART_PREFIX: &str = "part-";
const PARQUET_SUFFIX: &str = ".parquet";
const TMP_SUFFIX: &str = ".tmp";

/// The directory of one partition: `<root>/<table>/org_id=<org>/date=YYYY-MM-DD`.
pub fn partition_dir(root: &Path, table: Table, org: &OrgId, date: NaiveDate) -> PathBuf {
    org_dir(root, table, org).join(format!("date={}", date.format("%Y-%m-%d")))
}

fn org_dir(root: &Path, table: Table, org: &OrgId) -> PathBuf {
    root.join(table.as_str()).join(format!("org_id={org}"))
}

/// The final and temporary names of a new data file.
pub(crate) fn file_names(seq: u64) -> (String, String) {
    let name = format!(
        "{PART_PREFIX}{seq:08}-{}{PARQUET_SUFFIX}",
        uuid::Uuid::new_v4()
    );
    (format!(".{name}{TMP_SUFFIX}"), name)
}

/// The sequence number in a data file name (`part-00000012-….parquet`), whether the
/// file is complete or still temporary.
fn seq_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix('.').unwrap_or(name);
    let rest = rest.strip_prefix(PART_PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

fn is_data_file(name: &str) -> bool {
    name.starts_with(PART_PREFIX) && name.ends_with(PARQUET_SUFFIX)
}

fn is_tmp_file(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TMP_SUFFIX) && seq_of(name).is_some()
}

/// The sequence number the next file of a partition should take: one past the largest
/// there, so files sort in creation order. Zero for a new partition.
pub(crate) fn next_seq(dir: &Path) -> Result<u64, ArchiveError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ArchiveError::io(dir)(e)),
    };
    let mut next = 0;
    for entry in entries {
        let entry = entry.map_err(ArchiveError::io(dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(seq_of) {
            next = next.max(seq + 1);
        }
    }
    Ok(next)
}

/// The complete data files of one partition, in creation order. Temporary files and
/// anything else in the directory are ignored.
pub(crate) fn data_files(dir: &Path) -> Result<Vec<PathBuf>, ArchiveError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ArchiveError::io(dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ArchiveError::io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_data_file(name) {
            files.push((seq_of(name).unwrap_or(u64::MAX), entry.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

/// Every complete data file of a table, all organisations and days.
pub(crate) fn table_files(root: &Path, table: Table) -> Result<Vec<PathBuf>, ArchiveError> {
    let mut files = Vec::new();
    for org in subdirs(&root.join(table.as_str()))? {
        for date in subdirs(&org)? {
            files.extend(data_files(&date)?);
        }
    }
    Ok(files)
}

/// The partitions of one organisation's table whose day lies in `first..=last`, by day.
pub(crate) fn partitions(
    root: &Path,
    table: Table,
    org: &OrgId,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<(NaiveDate, PathBuf)>, ArchiveError> {
    let dir = org_dir(root, table, org);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ArchiveError::io(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ArchiveError::io(&dir))?;
        let name = entry.file_name();
        let date = name
            .to_str()
            .and_then(|n| n.strip_prefix("date="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        if let Some(date) = date.filter(|d| (first..=last).contains(d)) {
            found.push((date, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes the temporary files a crashed writer left under `root`
/// (`<table>/org_id=…/date=…/.part-….parquet.tmp`) and returns how many it deleted.
///
/// Only call it when no writer is running on `root`: it cannot tell a crashed writer's
/// file from a live one's. [`super::ArchiveWriter::new`] calls it.
pub fn sweep_tmp(root: &Path) -> Result<usize, ArchiveError> {
    let mut deleted = 0;
    // Exactly three levels deep (table / org / date): nothing else is ours to delete.
    for table in Table::ALL {
        for org in subdirs(&root.join(table.as_str()))? {
            for date in subdirs(&org)? {
                let entries = fs::read_dir(&date).map_err(ArchiveError::io(&date))?;
                for entry in entries {
                    let entry = entry.map_err(ArchiveError::io(&date))?;
                    if entry.file_name().to_str().is_some_and(is_tmp_file) {
                        let path = entry.path();
                        match fs::remove_file(&path) {
                            Ok(()) => deleted += 1,
                            Err(e) if e.kind() == ErrorKind::NotFound => {}
                            Err(e) => return Err(ArchiveError::io(path)(e)),
                        }
                    }
                }
            }
        }
    }
    Ok(deleted)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, ArchiveError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ArchiveError::io(dir)(e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ArchiveError::io(dir))?;
        if entry.file_type().map_err(ArchiveError::io(dir))?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_sequence_and_hide_the_temporary() {
        let (tmp, done) = file_names(12);
        assert!(tmp.starts_with(".part-00000012-") && tmp.ends_with(".parquet.tmp"));
        assert!(done.starts_with("part-00000012-") && done.ends_with(".parquet"));
        assert_eq!(seq_of(&tmp), Some(12));
        assert_eq!(seq_of(&done), Some(12));
        assert!(is_tmp_file(&tmp) && !is_data_file(&tmp));
        assert!(is_data_file(&done) && !is_tmp_file(&done));
        assert!(!is_tmp_file(".hidden.tmp"));
    }

    #[test]
    fn partition_dir_is_hive_style() {
        let dir = partition_dir(
            Path::new("/a"),
            Table::KpiBuckets,
            &OrgId::new("org-1"),
            NaiveDate::from_ymd_opt(2024, 3, 9).unwrap(),
        );
        assert_eq!(
            dir,
            Path::new("/a/kpi_buckets/org_id=org-1/date=2024-03-09")
        );
    }
}
