//! `dspex stats`: per program and model, how many executions ran, how many failed (and the
//! error rate), latency
//! percentiles (nearest rank, failed executions included), tokens and cost.

use crate::cli::{ExitStatus, Printer, StatsArgs};
use crate::commands::runs::{cost, latency, open_existing, store_error, to_json, Align, Table};
use crate::commands::CommandError;
use crate::store::{Filter, Stats, Store, StoreError};

/// Runs `dspex stats [--program P] [--json]`.
pub fn stats(args: StatsArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let opened = open_existing(args.store.path.as_deref(), args.config.as_deref(), printer)?;
    let text = match opened {
        Some(store) => {
            let filter = Filter {
                program: args.program,
                ..Filter::default()
            };
            let text = render_stats(store.as_ref(), &filter, args.json).map_err(store_error)?;
            if text.is_empty() {
                printer.message("no executions match\n");
            }
            text
        }
        // `open_existing` has said why there is nothing.
        None if args.json => "[]\n".to_owned(),
        None => String::new(),
    };
    printer.data(&text).map_err(|source| CommandError::Write {
        path: "stdout".to_owned(),
        source,
    })?;
    Ok(ExitStatus::Success)
}

/// Aggregates over the executions `filter` selects: an aligned table (`""` when nothing
/// matches), or with `json` a JSON array of [`Stats`] objects.
pub fn render_stats(store: &dyn Store, filter: &Filter, json: bool) -> Result<String, StoreError> {
    let stats = store.stats(filter)?;
    if json {
        return Ok(to_json(&stats));
    }
    Ok(stats_table(&stats))
}

/// The `dspex stats` table of `stats`, in the order given.
pub fn stats_table(stats: &[Stats]) -> String {
    if stats.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&[
        ("PROGRAM", Align::Left),
        ("MODEL", Align::Left),
        ("RUNS", Align::Right),
        ("FAILED", Align::Right),
        ("ERRORS", Align::Right),
        ("P50", Align::Right),
        ("P95", Align::Right),
        ("P99", Align::Right),
        ("TOKENS IN", Align::Right),
        ("TOKENS OUT", Align::Right),
        ("COST", Align::Right),
    ]);
    for row in stats {
        table.row(vec![
            row.program.clone(),
            row.model.clone(),
            row.count.to_string(),
            row.failed.to_string(),
            format!("{:.1}%", row.error_rate * 100.0),
            latency(row.p50_ms),
            latency(row.p95_ms),
            latency(row.p99_ms),
            row.usage.input_tokens.to_string(),
            row.usage.output_tokens.to_string(),
            cost(row.cost),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Usage;

    #[test]
    fn the_table_lines_up() {
        let stats = [
            Stats {
                program: "qa".to_owned(),
                model: "fast".to_owned(),
                count: 100,
                failed: 10,
                error_rate: 0.1,
                p50_ms: 50.0,
                p95_ms: 95.0,
                p99_ms: 99.04,
                usage: Usage {
                    input_tokens: 41_200,
                    output_tokens: 2_300,
                },
                cost: Some(0.00615),
            },
            Stats {
                program: "summarize".to_owned(),
                model: "slow".to_owned(),
                count: 3,
                failed: 0,
                error_rate: 0.0,
                p50_ms: 1_520.0,
                p95_ms: 2_010.5,
                p99_ms: 2_010.5,
                usage: Usage::default(),
                cost: None,
            },
        ];
        assert_eq!(
            stats_table(&stats),
            "\
PROGRAM    MODEL  RUNS  FAILED  ERRORS        P50        P95        P99  TOKENS IN  TOKENS OUT       COST
qa         fast    100      10   10.0%    50.0 ms    95.0 ms    99.0 ms      41200        2300  $0.006150
summarize  slow      3       0    0.0%  1520.0 ms  2010.5 ms  2010.5 ms          0           0          -
"
        );
    }
}
