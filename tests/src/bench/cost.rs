//! The cost model of `docs/performance.md`, computed from the benchmark's own counts: what
//! a million usage records and ten thousand cloud accounts metered for a month cost at
//! on-demand prices.

use std::fmt::Write as _;

/// On-demand prices, us-east-1, in USD, as AWS publishes them (DynamoDB since its on-demand
/// reduction of 2024-11-01; Lambda arm64). Marketplace metering calls are not billed.
pub const PRICES_AS_OF: &str = "2024-11-01 (DynamoDB on-demand), Lambda arm64 price list; us-east-1";
pub const WRITE_UNIT_USD: f64 = 0.625 / 1e6;
pub const READ_UNIT_USD: f64 = 0.125 / 1e6;
pub const GB_SECOND_USD: f64 = 0.000_013_333_4;
pub const REQUEST_USD: f64 = 0.20 / 1e6;
/// Hours in a month, as AWS prices monthly figures.
pub const HOURS_A_MONTH: f64 = 730.0;

/// What one unit of work costs, from the benchmark's counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Work {
    pub write_units: f64,
    pub read_units: f64,
    /// Lambda time, seconds, at `memory_mb`.
    pub seconds: f64,
    pub memory_mb: f64,
    pub invocations: f64,
    pub marketplace_calls: f64,
}

impl Work {
    pub fn scaled(self, k: f64) -> Work {
        Work {
            write_units: self.write_units * k,
            read_units: self.read_units * k,
            seconds: self.seconds * k,
            memory_mb: self.memory_mb,
            invocations: self.invocations * k,
            marketplace_calls: self.marketplace_calls * k,
        }
    }

    pub fn gb_seconds(&self) -> f64 {
        self.seconds * self.memory_mb / 1024.0
    }

    pub fn usd(&self) -> f64 {
        self.write_units * WRITE_UNIT_USD
            + self.read_units * READ_UNIT_USD
            + self.gb_seconds() * GB_SECOND_USD
            + self.invocations * REQUEST_USD
    }
}

/// A function's `MemorySize` in template.yaml (its own, or the Globals').
pub fn memory_mb(template: &str, function: &str) -> f64 {
    let size = |block: &str| {
        block.lines().find_map(|l| l.trim().strip_prefix("MemorySize:").and_then(|v| v.trim().parse::<f64>().ok()))
    };
    let global = template.split("Resources:").next().and_then(size).unwrap_or(128.0);
    let named = format!("${{AWS::StackName}}-{function}\"");
    template
        .split("Type: AWS::Serverless::Function")
        .find(|block| block.contains(&named))
        .and_then(|block| size(block.split("Events:").next().unwrap_or(block)))
        .unwrap_or(global)
}

fn row(o: &mut String, what: &str, w: &Work) {
    writeln!(
        o,
        "| {what} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | ${:.2} |",
        w.write_units,
        w.read_units,
        w.gb_seconds(),
        w.invocations,
        w.marketplace_calls,
        w.usd()
    )
    .unwrap();
}

/// The model's table: a million records taken, and ten thousand cloud accounts metered
/// every hour of a month.
pub fn render(per_record: Work, per_account_run: Work) -> String {
    let mut o = String::new();
    writeln!(o, "Prices: DynamoDB on-demand ${:.3} per million write request units and ${:.3} per million read request units; Lambda arm64 ${:.10} per GB-second and ${:.2} per million requests ({PRICES_AS_OF}). Marketplace metering calls cost nothing themselves.\n",
        WRITE_UNIT_USD * 1e6, READ_UNIT_USD * 1e6, GB_SECOND_USD, REQUEST_USD * 1e6).unwrap();
    writeln!(o, "| work | write units | read units | Lambda GB-s | invocations | marketplace calls | USD |").unwrap();
    writeln!(o, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    row(&mut o, "1 M usage records taken (1,000-record batches)", &per_record.scaled(1e6));
    row(
        &mut o,
        "10,000 cloud accounts metered hourly for a month (730 runs)",
        &per_account_run.scaled(10_000.0 * HOURS_A_MONTH),
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_the_function_s_own_or_the_globals() {
        let t = "Globals:\n  Function:\n    MemorySize: 256\nResources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !Sub \"${AWS::StackName}-usage\"\n      MemorySize: 512\n      Events:\n        X: {}\n  B:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !Sub \"${AWS::StackName}-metering\"\n      Events:\n        MemorySize: 9\n";
        assert_eq!(memory_mb(t, "usage"), 512.0);
        assert_eq!(memory_mb(t, "metering"), 256.0);
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
        assert_eq!(memory_mb(&template, "usage"), 512.0);
    }

    #[test]
    fn a_million_writes_cost_what_the_price_list_says() {
        let w = Work { write_units: 1.0, memory_mb: 1024.0, seconds: 1.0, ..Work::default() }.scaled(1e6);
        assert!((w.usd() - (0.625 + 13.3334)).abs() < 1e-9);
    }
}
