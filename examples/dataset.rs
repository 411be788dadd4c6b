//! A deterministic data set of realistic mock mentions for `scripts/seed-sql-compare.sh`.
//!
//! Writes the same N mentions twice, in one pass:
//!
//! * `--ndjson FILE`: mention records for `POST /api/v1/ingest/mentions`, one per line;
//! * `--csv FILE`: rows for the seed's `mentions` table (`\copy ... WITH (FORMAT csv)`),
//!   columns `source, content, sentiment_score, location, influencer_data, created_at,
//!   metadata`, with `sentiment_score` the engine's VADER compound rounded to 2 decimals
//!   (the seed's `DECIMAL(3,2)`), `created_at` the event time, and `id` /
//!   `crisis_event_id` left to the table's defaults (a random UUID, NULL).
//!
//! The mentions come from one organisation's `MentionGenerator` (seed 42), delivered at
//! an even rate over `[end - 7 days + margin, end)`, so that every event time is inside
//! both the seed query's `NOW() - INTERVAL '7 days'` and the engine's 7-day retention
//! when queried a little later. Texts, authors and ids do not depend on `end`: they are
//! generated on a fixed timeline and shifted to end at `end` (default: now).
//!
//! ```sh
//! cargo run --release --example dataset -- --count 1000000 \
//!     --ndjson /tmp/mentions.ndjson --csv /tmp/mentions.csv [--end-ms 1767225600000] \
//!     [--org harbor-city] [--margin-minutes 60]
//! ```
//!
//! On stderr it prints what the seed query should answer over the rows whose event time
//! is within 24 h of `end`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use warroom_actors::sources::mock::MentionGenerator;
use warroom_engine::{Mention, OrgId};
use warroom_streams::sentiment::analyzer;

/// The fixed timeline the generator runs on: ends 2026-01-01T00:00:00Z.
const BASE_END_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 24 * 3_600_000;
/// Mentions delivered together (same delivery time, jittered event times).
const PER_DELIVERY: usize = 10;

struct Args {
    count: usize,
    ndjson: String,
    csv: String,
    end_ms: i64,
    org: String,
    margin_minutes: i64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 1_000_000,
        ndjson: String::new(),
        csv: String::new(),
        end_ms: Utc::now().timestamp_millis(),
        org: "harbor-city".to_owned(),
        margin_minutes: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<i64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--count" => {
                args.count = usize::try_from(number(&value)?).map_err(|e| e.to_string())?
            }
            "--ndjson" => args.ndjson = value,
            "--csv" => args.csv = value,
            "--end-ms" => args.end_ms = number(&value)?,
            "--org" => args.org = value,
            "--margin-minutes" => args.margin_minutes = number(&value)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.ndjson.is_empty() || args.csv.is_empty() {
        return Err("--ndjson FILE and --csv FILE are required".to_owned());
    }
    Ok(args)
}

/// A CSV field: quoted, with quotes doubled (content has commas, quotes and newlines).
fn csv_field(out: &mut impl Write, value: &str) -> std::io::Result<()> {
    out.write_all(b"\"")?;
    out.write_all(value.replace('"', "\"\"").as_bytes())?;
    out.write_all(b"\"")
}

/// One row of the seed's `mentions` table.
fn write_row(out: &mut impl Write, m: &Mention, compound: f64) -> std::io::Result<()> {
    let location = serde_json::json!({ "country": m.country, "region": m.region });
    let influencer = serde_json::json!({
        "handle": m.author.handle,
        "name": m.author.name,
        "followers": m.author.followers,
        "reach": m.author.reach,
    });
    let metadata = serde_json::json!({
        "external_id": m.external_id,
        "language": m.language,
        "hashtags": m.hashtags,
        "url": m.url,
        "source_sentiment": m.source_sentiment,
    });
    let source = serde_json::to_value(m.source)?;
    csv_field(out, source.as_str().unwrap_or("other"))?;
    out.write_all(b",")?;
    csv_field(out, &m.content)?;
    write!(out, ",{compound:.2},")?;
    csv_field(out, &location.to_string())?;
    out.write_all(b",")?;
    csv_field(out, &influencer.to_string())?;
    write!(
        out,
        ",{},",
        m.event_time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )?;
    csv_field(out, &metadata.to_string())?;
    out.write_all(b"\n")
}

fn run(args: &Args) -> std::io::Result<()> {
    let org = OrgId::new(&args.org);
    let mut generator = MentionGenerator::new(&org, 42);
    let mut ndjson = BufWriter::new(File::create(&args.ndjson)?);
    let mut csv = BufWriter::new(File::create(&args.csv)?);
    let shift = chrono::Duration::milliseconds(args.end_ms - BASE_END_MS);
    // Deliveries spread evenly over the 7 days minus the margin; the generator's event
    // times are up to 45 s before delivery, so the first one starts 1 minute later still.
    let span_ms = 7 * DAY_MS - (args.margin_minutes + 1) * 60_000;
    let deliveries = args.count.div_ceil(PER_DELIVERY).max(1) as i64;
    let step_ms = span_ms / deliveries;
    let first_ms = BASE_END_MS - step_ms * deliveries;
    let day_start = DateTime::from_timestamp_millis(args.end_ms - DAY_MS).unwrap_or_default();
    let (mut written, mut last_24h, mut sum) = (0usize, 0u64, 0f64);
    for d in 0..deliveries {
        let now = DateTime::from_timestamp_millis(first_ms + (d + 1) * step_ms).unwrap_or_default();
        let take = PER_DELIVERY.min(args.count - written);
        for mut m in generator.generate(now, take, 0.0) {
            m.event_time += shift;
            let compound = analyzer().polarity_scores(&m.content).compound;
            serde_json::to_writer(&mut ndjson, &m)?;
            ndjson.write_all(b"\n")?;
            write_row(&mut csv, &m, compound)?;
            // What the seed query's AVG sees: the 2-decimal value.
            sum += (compound * 100.0).round() / 100.0;
            if m.event_time >= day_start {
                last_24h += 1;
            }
            written += 1;
        }
    }
    ndjson.flush()?;
    csv.flush()?;
    eprintln!(
        "{written} mentions; {last_24h} with event time in the 24 h before end; \
         average sentiment_score {:.4}",
        sum / written.max(1) as f64
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("dataset: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dataset: {e}");
            ExitCode::FAILURE
        }
    }
}
