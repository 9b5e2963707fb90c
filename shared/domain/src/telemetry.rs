//! The business figures, as metrics through the `metrics` facade: recording one does no I/O
//! (like a `tracing` event); each function's exporter (billing-wiring) writes them to stdout
//! in CloudWatch's embedded metric format at the end of every invocation. Names, units and
//! dimensions are [`CATALOGUE`]'s, listed for operators in docs/operations.md (a test keeps the
//! two equal); the alarms and the dashboard of template.yaml read them.
//!
//! Most figures are emitted by the functions from what the services return (the usage answer,
//! the metering run's figures, the sweeper's); events seen only inside a service or an adapter
//! (a report taken or fallen back, an email sent, a marketplace call) are recorded there, in one
//! line.

use crate::model::Platform;
use crate::rules::metering::FallbackReason;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A metric's unit as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

/// How a metric is recorded: a counter sums, a gauge is the last value, a histogram keeps
/// every value (CloudWatch's statistics: maximum, percentiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
    pub meaning: &'static str,
}

pub const USAGE_ACCEPTED: &str = "UsageRecordsAccepted";
pub const USAGE_DUPLICATE: &str = "UsageRecordsDuplicate";
pub const USAGE_REJECTED: &str = "UsageRecordsRejected";
pub const METERING_REPORTED: &str = "MeteringReported";
pub const METERING_FELL_BACK: &str = "MeteringFellBack";
pub const METERING_PENDING: &str = "MeteringPending";
pub const METERING_PENDING_AGE: &str = "MeteringPendingAge";
pub const METERING_ACCOUNTS: &str = "MeteringAccounts";
pub const METERING_ACCOUNTS_FAILED: &str = "MeteringAccountsFailed";
pub const EMAILS_SENT: &str = "EmailsSent";
pub const EMAIL_SEND_FAILURES: &str = "EmailSendFailures";
pub const EMAILS_RETRIED: &str = "EmailsRetried";
pub const EMAILS_TAKEN_OVER: &str = "EmailsTakenOver";
pub const EMAILS_OLDEST_UNSENT_AGE: &str = "EmailsOldestUnsentAge";
pub const CANCELLATIONS_FINISHED: &str = "CancellationsFinished";
pub const WORKSPACES_SWITCHED: &str = "WorkspacesSwitched";
pub const BILLS_ISSUED: &str = "BillsIssued";
pub const BALANCES_INTO_ARREARS: &str = "BalancesIntoArrears";
pub const MARKETPLACE_CALLS: &str = "MarketplaceCalls";
pub const MARKETPLACE_CALL_ERRORS: &str = "MarketplaceCallErrors";
pub const MARKETPLACE_CALL_LATENCY: &str = "MarketplaceCallLatency";

const fn m(
    name: &'static str,
    kind: Kind,
    unit: Unit,
    dimensions: &'static [&'static str],
    meaning: &'static str,
) -> Metric {
    Metric { name, kind, unit, dimensions, meaning }
}

use Kind::{Counter, Gauge, Histogram};

/// Every metric the functions emit.
pub const CATALOGUE: &[Metric] = &[
    m(USAGE_ACCEPTED, Counter, Unit::Count, &[], "usage records counted (new)"),
    m(USAGE_DUPLICATE, Counter, Unit::Count, &[], "usage records sent again as they were (counted once before)"),
    m(USAGE_REJECTED, Counter, Unit::Count, &["Code"], "usage records refused, by the record's error code"),
    m(METERING_REPORTED, Counter, Unit::Count, &["Marketplace"], "metering reports the marketplace took"),
    m(
        METERING_FELL_BACK,
        Counter,
        Unit::Count,
        &["Marketplace", "Reason"],
        "metering reports whose usage fell back to enterprise, by reason",
    ),
    m(
        METERING_PENDING,
        Counter,
        Unit::Count,
        &["Marketplace"],
        "metering reports not taken this time (sent again next run)",
    ),
    m(
        METERING_PENDING_AGE,
        Histogram,
        Unit::Seconds,
        &["Marketplace"],
        "age of each report not taken this time (its reporting time to now)",
    ),
    m(METERING_ACCOUNTS, Counter, Unit::Count, &[], "cloud accounts the hourly metering run worked on"),
    m(
        METERING_ACCOUNTS_FAILED,
        Counter,
        Unit::Count,
        &[],
        "cloud accounts the hourly run could not meter (retried next run)",
    ),
    m(EMAILS_SENT, Counter, Unit::Count, &[], "emails SES accepted"),
    m(EMAIL_SEND_FAILURES, Counter, Unit::Count, &[], "sends that failed (the email stays pending for the sweeper)"),
    m(EMAILS_RETRIED, Counter, Unit::Count, &[], "pending emails the sweeper sent"),
    m(
        EMAILS_TAKEN_OVER,
        Counter,
        Unit::Count,
        &[],
        "emails whose sender died before recording the outcome, sent again (SES may have had them: one may go twice)",
    ),
    m(
        EMAILS_OLDEST_UNSENT_AGE,
        Gauge,
        Unit::Seconds,
        &[],
        "age of the oldest email not yet sent, at the end of each sweep (0: none)",
    ),
    m(CANCELLATIONS_FINISHED, Counter, Unit::Count, &[], "cancellation runs finished (flow 7)"),
    m(WORKSPACES_SWITCHED, Counter, Unit::Count, &[], "workspaces switched to enterprise by cancellations"),
    m(BILLS_ISSUED, Counter, Unit::Count, &[], "monthly bills issued"),
    m(
        BALANCES_INTO_ARREARS,
        Counter,
        Unit::Count,
        &["Currency"],
        "balances that fell below zero (one arrears email each)",
    ),
    m(MARKETPLACE_CALLS, Counter, Unit::Count, &["Marketplace", "Operation"], "calls to a marketplace's API"),
    m(
        MARKETPLACE_CALL_ERRORS,
        Counter,
        Unit::Count,
        &["Marketplace", "Operation"],
        "calls that got no answer to act on: a transport error, a timeout, a throttle, a 5xx, an AWS error",
    ),
    m(
        MARKETPLACE_CALL_LATENCY,
        Histogram,
        Unit::Milliseconds,
        &["Marketplace", "Operation"],
        "each call's time to its answer",
    ),
];

/// A platform's value in the `Marketplace` dimension.
pub fn marketplace(p: Platform) -> &'static str {
    match p {
        Platform::Aliyun => "aliyun",
        Platform::Aws => "aws",
        Platform::Huawei => "huawei",
    }
}

/// The usage function's answer to a batch: records accepted, duplicates, and each rejected
/// record's code.
pub fn usage_batch(accepted: usize, duplicates: usize, rejected: impl IntoIterator<Item = &'static str>) {
    metrics::counter!(USAGE_ACCEPTED).increment(accepted as u64);
    metrics::counter!(USAGE_DUPLICATE).increment(duplicates as u64);
    for code in rejected {
        metrics::counter!(USAGE_REJECTED, "Code" => code).increment(1);
    }
}

/// A metering run's accounts, and those it failed (its reports' fates are recorded as they
/// happen).
pub fn metering_run(accounts: usize, failed: usize) {
    metrics::counter!(METERING_ACCOUNTS).increment(accounts as u64);
    metrics::counter!(METERING_ACCOUNTS_FAILED).increment(failed as u64);
}

/// A sweep: the pending emails it sent, and how old the oldest one left unsent is.
pub fn sweep(retried: usize, oldest_unsent: Option<chrono::Duration>) {
    metrics::counter!(EMAILS_RETRIED).increment(retried as u64);
    let age = oldest_unsent.map(|a| a.num_seconds().max(0)).unwrap_or(0);
    metrics::gauge!(EMAILS_OLDEST_UNSENT_AGE).set(age as f64);
}

pub fn reported(p: Platform) {
    metrics::counter!(METERING_REPORTED, "Marketplace" => marketplace(p)).increment(1);
}

pub fn fell_back(p: Platform, reason: FallbackReason) {
    metrics::counter!(METERING_FELL_BACK, "Marketplace" => marketplace(p), "Reason" => reason.code()).increment(1);
}

/// A report not taken this time, `age` after its reporting time.
pub fn pending(p: Platform, age: chrono::Duration) {
    metrics::counter!(METERING_PENDING, "Marketplace" => marketplace(p)).increment(1);
    histogram(METERING_PENDING_AGE, &[("Marketplace", marketplace(p))], age.num_seconds().max(0) as f64);
}

pub fn email_sent() {
    metrics::counter!(EMAILS_SENT).increment(1);
}

pub fn email_taken_over() {
    metrics::counter!(EMAILS_TAKEN_OVER).increment(1);
}

pub fn email_failed() {
    metrics::counter!(EMAIL_SEND_FAILURES).increment(1);
}

pub fn workspaces_switched(n: usize) {
    metrics::counter!(WORKSPACES_SWITCHED).increment(n as u64);
}

pub fn cancellation_finished() {
    metrics::counter!(CANCELLATIONS_FINISHED).increment(1);
}

pub fn bill_issued() {
    metrics::counter!(BILLS_ISSUED).increment(1);
}

pub fn into_arrears(currency: crate::money::Currency) {
    metrics::counter!(BALANCES_INTO_ARREARS, "Currency" => currency.code()).increment(1);
}

/// One call to a marketplace's API and how it went (`answered`: an answer to act on).
pub fn marketplace_call(marketplace: &'static str, operation: &'static str, took: std::time::Duration, answered: bool) {
    let labels = [("Marketplace", marketplace), ("Operation", operation)];
    metrics::counter!(MARKETPLACE_CALLS, &labels).increment(1);
    if !answered {
        metrics::counter!(MARKETPLACE_CALL_ERRORS, &labels).increment(1);
    }
    histogram(MARKETPLACE_CALL_LATENCY, &labels, took.as_secs_f64() * 1000.0);
}

/// What the exporter does to write what was recorded (set once, at start-up).
static FLUSH: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();
/// Histogram values recorded since the last flush, per metric and dimensions.
static UNFLUSHED: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
/// An embedded-metric record holds at most 100 values of a metric: a histogram is flushed
/// before it holds more (a metering run makes thousands of calls).
const MAX_UNFLUSHED: usize = 90;

/// Installs the exporter's flush (billing-wiring does, once per process).
pub fn set_flush(flush: impl Fn() + Send + Sync + 'static) {
    let _ = FLUSH.set(Box::new(flush));
}

/// Writes everything recorded so far (the end of an invocation, or a full histogram).
pub fn flush() {
    if let Ok(mut unflushed) = UNFLUSHED.lock() {
        *unflushed = None;
    }
    if let Some(f) = FLUSH.get() {
        f();
    }
}

fn histogram(name: &'static str, labels: &[(&'static str, &'static str)], value: f64) {
    metrics::histogram!(name, labels).record(value);
    let key = format!("{name}{labels:?}");
    let full = match UNFLUSHED.lock() {
        Ok(mut u) => {
            let n = u.get_or_insert_with(HashMap::new).entry(key).or_insert(0);
            *n += 1;
            *n >= MAX_UNFLUSHED
        }
        Err(_) => false,
    };
    if full {
        flush();
    }
}

/// Declares every metric's unit to the exporter (at start-up).
pub fn describe() {
    for m in CATALOGUE {
        let unit = match m.unit {
            Unit::Count => metrics::Unit::Count,
            Unit::Seconds => metrics::Unit::Seconds,
            Unit::Milliseconds => metrics::Unit::Milliseconds,
        };
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, unit, m.meaning),
            Kind::Gauge => metrics::describe_gauge!(m.name, unit, m.meaning),
            Kind::Histogram => metrics::describe_histogram!(m.name, unit, m.meaning),
        }
    }
}
