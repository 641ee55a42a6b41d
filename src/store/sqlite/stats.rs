//! Aggregation for `stats`: counts, sums and nearest-rank latency percentiles per (program,
//! model), over rows that arrive grouped.

use crate::lm::Usage;
use crate::store::Stats;

/// Running aggregates of one (program, model).
pub(super) struct Group {
    pub program: String,
    pub model: String,
    failed: u64,
    latencies: Vec<f64>,
    usage: Usage,
    cost: Option<f64>,
}

impl Group {
    pub(super) fn new(program: &str, model: &str) -> Group {
        Group {
            program: program.to_owned(),
            model: model.to_owned(),
            failed: 0,
            latencies: Vec::new(),
            usage: Usage::default(),
            cost: None,
        }
    }

    pub(super) fn add(&mut self, failed: bool, latency_ms: f64, usage: Usage, cost: Option<f64>) {
        self.failed += u64::from(failed);
        self.latencies.push(latency_ms);
        self.usage += usage;
        if let Some(cost) = cost {
            *self.cost.get_or_insert(0.0) += cost;
        }
    }

    pub(super) fn finish(mut self) -> Stats {
        self.latencies.sort_by(f64::total_cmp);
        let count = self.latencies.len() as u64;
        Stats {
            count,
            failed: self.failed,
            error_rate: if count == 0 {
                0.0
            } else {
                self.failed as f64 / count as f64
            },
            p50_ms: nearest_rank(&self.latencies, 50),
            p95_ms: nearest_rank(&self.latencies, 95),
            p99_ms: nearest_rank(&self.latencies, 99),
            usage: self.usage,
            cost: self.cost,
            program: self.program,
            model: self.model,
        }
    }
}

/// The `percent`th percentile of `sorted` by the nearest-rank method: the value at 1-based rank
/// `ceil(percent / 100 * n)`, so always a latency that was recorded. 0 for no values.
pub(super) fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_rank_picks_a_recorded_value() {
        let one_to_hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&one_to_hundred, 50), 50.0);
        assert_eq!(nearest_rank(&one_to_hundred, 99), 99.0);
        assert_eq!(nearest_rank(&[7.0], 99), 7.0);
        assert_eq!(nearest_rank(&[1.0, 2.0], 50), 1.0);
        assert_eq!(nearest_rank(&[1.0, 2.0], 51), 2.0);
        assert_eq!(nearest_rank(&[], 50), 0.0);
    }
}
