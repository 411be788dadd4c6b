//! Resident memory and CPU time of a process, from `/proc` (Linux only).

use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux reports these in USER_HZ,
/// which the kernel fixes at 100 for user space on every mainstream architecture; reading
/// it via `sysconf` would need libc (and `unsafe`) for a constant.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// User + system CPU time, clock ticks.
    pub cpu_ticks: u64,
    /// When it was taken.
    pub at: Instant,
}

/// Which process to read: a pid, or this process.
#[derive(Debug, Clone)]
pub struct Probe {
    dir: String,
    /// The pid, for the report (`None` for this process).
    pub pid: Option<u32>,
}

impl Probe {
    /// Reads `/proc/<pid>`.
    pub fn pid(pid: u32) -> Self {
        Self {
            dir: format!("/proc/{pid}"),
            pid: Some(pid),
        }
    }

    /// Reads `/proc/self`.
    pub fn this_process() -> Self {
        Self {
            dir: "/proc/self".to_owned(),
            pid: None,
        }
    }

    /// Takes a reading now.
    pub fn sample(&self) -> anyhow::Result<Sample> {
        let status = std::fs::read_to_string(format!("{}/status", self.dir))
            .with_context(|| format!("reading {}/status", self.dir))?;
        let stat = std::fs::read_to_string(format!("{}/stat", self.dir))
            .with_context(|| format!("reading {}/stat", self.dir))?;
        Ok(Sample {
            rss_kib: parse_vm_rss(&status).context("no VmRSS line in /proc/<pid>/status")?,
            cpu_ticks: parse_cpu_ticks(&stat).context("malformed /proc/<pid>/stat")?,
            at: Instant::now(),
        })
    }
}

/// `VmRSS:     12345 kB` → 12345.
fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime (fields 14 and 15). The command name (field 2) is in parentheses and may
/// itself contain spaces and parentheses, so count fields after the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name come state (field 3) ... utime is field 14: index 11 from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Memory and CPU of a process over a run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcFigures {
    /// The pid (absent for the load tester itself).
    pub pid: Option<u32>,
    /// RSS at the start, MiB.
    pub rss_start_mib: f64,
    /// RSS at the end, MiB.
    pub rss_end_mib: f64,
    /// Highest RSS seen in the once-a-second samples, MiB.
    pub rss_peak_mib: f64,
    /// CPU time over wall time between the start and end samples, percent of one core
    /// (can exceed 100 on several cores).
    pub cpu_percent: f64,
}

/// Tracks a process from a start sample through periodic samples to the end.
#[derive(Debug)]
pub struct Tracker {
    probe: Probe,
    start: Sample,
    peak_rss_kib: u64,
}

impl Tracker {
    /// Takes the start sample.
    pub fn start(probe: Probe) -> anyhow::Result<Self> {
        let start = probe.sample()?;
        Ok(Self {
            probe,
            start,
            peak_rss_kib: start.rss_kib,
        })
    }

    /// A periodic sample (for the peak); errors are ignored because the process may be
    /// gone, which the end sample reports.
    pub fn tick(&mut self) -> Option<Sample> {
        let sample = self.probe.sample().ok()?;
        self.peak_rss_kib = self.peak_rss_kib.max(sample.rss_kib);
        Some(sample)
    }

    /// Takes the end sample and computes the figures.
    pub fn finish(mut self) -> anyhow::Result<ProcFigures> {
        let end = self.probe.sample()?;
        self.peak_rss_kib = self.peak_rss_kib.max(end.rss_kib);
        let wall = end.at.duration_since(self.start.at).as_secs_f64();
        let cpu = end.cpu_ticks.saturating_sub(self.start.cpu_ticks) as f64 / TICKS_PER_SECOND;
        let mib = |kib: u64| kib as f64 / 1024.0;
        Ok(ProcFigures {
            pid: self.probe.pid,
            rss_start_mib: mib(self.start.rss_kib),
            rss_end_mib: mib(end.rss_kib),
            rss_peak_mib: mib(self.peak_rss_kib),
            cpu_percent: if wall > 0.0 { 100.0 * cpu / wall } else { 0.0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\twarroom\nVmPeak:\t 2000 kB\nVmRSS:\t   51234 kB\nThreads: 9\n";
        assert_eq!(parse_vm_rss(status), Some(51234));
        let stat = "4242 (war room) (x)) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 9 0 100";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let tracker = Tracker::start(Probe::this_process()).unwrap();
        let figures = tracker.finish().unwrap();
        assert!(figures.rss_end_mib > 0.0);
        assert!(figures.pid.is_none());
    }
}
