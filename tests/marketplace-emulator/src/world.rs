//! What the emulated marketplaces know: their configuration (keys, products), the customers and
//! instances registered at the test endpoints, the ledger of every record taken, the faults to
//! inject and the clocks tests move. One `World` behind a mutex; `reset` clears all but the
//! configuration.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub type Shared = Arc<Mutex<World>>;

/// The AWS product's dimensions when `AWS_DIMENSIONS` is not set: the billing catalogue's.
pub const DEFAULT_AWS_DIMENSIONS: &str =
    "TimeSeries,LogEvents,ApmTraces,RumViews,SyntheticRuns,SecurityChecks,Profiles,MetricStorage,LogStorage,AlertSms";

/// The Alibaba product's metering items when `ALIYUN_METERING_ITEMS` is not set (the local
/// stack's mapping in scripts/lib.sh): billing item → `meteringAssit`.
pub const DEFAULT_ALIYUN_METERING_ITEMS: &str = r#"{"time_series":"cmapi00000001-Unit-1","log_events":"cmapi00000001-Frequency-1","apm_traces":"cmapi00000001-Frequency-2","rum_views":"cmapi00000001-Frequency-3","synthetics":"cmapi00000001-Frequency-4","security_checks":"cmapi00000001-Frequency-5","profiles":"cmapi00000001-Frequency-6","metrics_storage":"cmapi00000001-StorageGigaByte-1","log_storage":"cmapi00000001-StorageGigaByte-2","alert_sms":"cmapi00000001-Frequency-7"}"#;

/// The keys and products the marketplaces hold for the seller; read once from the environment.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Alibaba: the AccessKey secret PushMeteringData is signed with.
    pub aliyun_secret: String,
    /// Alibaba: the product's metering items, billing item code → `meteringAssit`.
    pub aliyun_items: BTreeMap<String, String>,
    /// AWS: the product's dimensions.
    pub aws_dimensions: BTreeSet<String>,
    /// KooGallery: the seller's interconnection key, which signs the usage push.
    pub huawei_key: String,
    /// KooGallery: the AK/SK pair the order query is signed with (API Gateway).
    pub koogallery_ak: String,
    pub koogallery_sk: String,
}

impl Config {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        let items = Some(var("ALIYUN_METERING_ITEMS")).filter(|s| !s.trim().is_empty());
        let dims = Some(var("AWS_DIMENSIONS")).filter(|s| !s.trim().is_empty());
        Self {
            aliyun_secret: var("ALIYUN_ACCESS_KEY_SECRET"),
            aliyun_items: serde_json::from_str(items.as_deref().unwrap_or(DEFAULT_ALIYUN_METERING_ITEMS))
                .expect("ALIYUN_METERING_ITEMS is a JSON object of item code → meteringAssit"),
            aws_dimensions: parse_dimensions(dims.as_deref().unwrap_or(DEFAULT_AWS_DIMENSIONS)),
            huawei_key: var("HUAWEI_KOOGALLERY_KEY"),
            koogallery_ak: var("KOOGALLERY_ACCESS_KEY"),
            koogallery_sk: var("KOOGALLERY_SECRET_KEY"),
        }
    }
}

pub fn parse_dimensions(list: &str) -> BTreeSet<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// A registration token minted at the test endpoint.
#[derive(Clone, Debug)]
pub struct Token {
    pub customer_identifier: Option<String>,
    pub license_arn: Option<String>,
    pub aws_account_id: String,
    pub product_code: String,
    pub agreement_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Resolved once already: a token is redeemed once.
    pub redeemed: bool,
}

/// An AWS licence (concurrent-agreement integration).
#[derive(Clone, Debug)]
pub struct Licence {
    pub aws_account_id: String,
    pub product_code: String,
    pub activated_at: DateTime<Utc>,
    pub deprovisioned: bool,
}

/// An AWS customer of a listing integrated before licences.
#[derive(Clone, Debug)]
pub struct LegacyCustomer {
    pub aws_account_id: String,
    pub product_code: String,
    /// The licence `ResolveCustomer` also answered, if the token carried one: the same subscription.
    pub license_arn: Option<String>,
    pub unsubscribed: bool,
}

/// What AWS remembers of a record it took: its key's quantity and id.
#[derive(Clone, Debug)]
pub struct AwsTaken {
    pub quantity: i64,
    pub id: String,
}

#[derive(Clone, Debug, Default)]
pub struct AliyunInstance {
    pub product_code: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct KooInstance {
    pub opened_at: DateTime<Utc>,
    /// Frozen intervals: from, until (open while frozen).
    pub frozen: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    pub released_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct KooOrder {
    pub order_id: String,
    pub order_line_id: String,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub order_type: String,
    pub charging_mode: String,
    pub product_id: String,
    pub sku_code: String,
    pub create_time: DateTime<Utc>,
}

pub struct Fault {
    pub operation: String,
    /// Only calls naming this scope (product code, licence ARN, instance id, order id); all when absent.
    pub scope: Option<String>,
    pub mode: String,
    pub remaining: u32,
    pub every: u32,
    pub seen: u32,
}

#[derive(Default)]
pub struct World {
    pub config: Config,
    pub tokens: HashMap<String, Token>,
    pub licences: HashMap<String, Licence>,
    pub legacy: HashMap<String, LegacyCustomer>,
    /// (product, customer, dimension, hour) → what was taken.
    pub aws_taken: HashMap<(String, String, String, i64), AwsTaken>,
    pub aliyun_instances: HashMap<String, AliyunInstance>,
    pub aliyun_nonces: HashSet<String>,
    pub aliyun_last_push: HashMap<String, DateTime<Utc>>,
    /// Records taken: (instance, start, end, key, meteringAssit, value).
    pub aliyun_taken: HashSet<(String, i64, i64, String, String, u64)>,
    pub koo_instances: HashMap<String, KooInstance>,
    pub koo_orders: HashMap<String, KooOrder>,
    pub koo_nonces: HashSet<String>,
    /// metering_sn → the record it first named (its canonical text).
    pub koo_serials: HashMap<String, String>,
    /// (instance, begin_time, end_time) of every record processed.
    pub koo_periods: HashSet<(String, String, String)>,
    pub koo_abnormal: Vec<Value>,
    /// Every record taken, in order.
    pub ledger: Vec<Value>,
    pub faults: Vec<Fault>,
    /// Offset from the wall clock, per scope.
    pub clocks: HashMap<String, Duration>,
}

impl World {
    pub fn new(config: Config) -> Self {
        Self { config, ..Self::default() }
    }

    pub fn shared(config: Config) -> Shared {
        Arc::new(Mutex::new(Self::new(config)))
    }

    /// Forgets everything but the configuration.
    pub fn reset(&mut self) {
        *self = Self::new(std::mem::take(&mut self.config));
    }

    /// The time the first of `scopes` with a clock of its own sees; the wall clock otherwise.
    pub fn now(&self, scopes: &[&str]) -> DateTime<Utc> {
        let offset = scopes.iter().find_map(|s| self.clocks.get(*s)).copied().unwrap_or_default();
        Utc::now() + offset
    }

    pub fn set_clock(&mut self, scope: &str, now: DateTime<Utc>) {
        self.clocks.insert(scope.to_string(), now - Utc::now());
    }

    /// Whether a request's own time stamp is within `tolerance` of the marketplace's clock. The
    /// product stamps requests with the machine's clock while tests move a scope's clock, so the
    /// stamp may match either: the wall clock or the clock of one of `scopes`.
    pub fn is_fresh(&self, stamp: DateTime<Utc>, scopes: &[&str], tolerance: Duration) -> bool {
        let near = |now: DateTime<Utc>| (stamp - now).abs() <= tolerance;
        near(Utc::now()) || scopes.iter().any(|s| self.clocks.get(*s).is_some_and(|o| near(Utc::now() + *o)))
    }

    /// The fault, if any, this call of `operation` naming `scopes` suffers.
    pub fn fault(&mut self, operation: &str, scopes: &[&str]) -> Option<String> {
        let same_operation =
            |f: &str| f == operation || f == "any" || (f == "PushUsage" && operation == "KooGalleryUsage");
        let applies = |f: &Fault| {
            f.remaining > 0 && same_operation(&f.operation) && f.scope.as_deref().is_none_or(|s| scopes.contains(&s))
        };
        for f in self.faults.iter_mut().filter(|f| applies(f)) {
            f.seen += 1;
            if f.seen % f.every.max(1) == 0 {
                f.remaining -= 1;
                return Some(f.mode.clone());
            }
        }
        None
    }

    pub fn add_fault(&mut self, operation: String, scope: Option<String>, mode: String, count: u32, every: u32) {
        self.faults.push(Fault { operation, scope, mode, remaining: count, every, seen: 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_sees_its_own_clock_and_others_the_wall_clock() {
        let mut w = World::new(Config::default());
        let then = "2022-08-09T09:10:00Z".parse::<DateTime<Utc>>().unwrap();
        w.set_clock("i-1", then);
        assert!((w.now(&["i-1"]) - then).num_seconds().abs() < 2);
        assert!((w.now(&["i-2"]) - Utc::now()).num_seconds().abs() < 2);
        assert!((w.now(&["i-2", "i-1"]) - then).num_seconds().abs() < 2, "the first scope with a clock");
        assert!(w.is_fresh(then, &["i-1"], Duration::minutes(5)));
        assert!(w.is_fresh(Utc::now(), &["i-1"], Duration::minutes(5)), "the wall clock also counts");
        assert!(!w.is_fresh(then, &["i-2"], Duration::minutes(5)));
    }

    #[test]
    fn faults_hit_their_operation_and_scope_one_call_in_every() {
        let mut w = World::new(Config::default());
        w.add_fault("BatchMeterUsage".into(), Some("prod".into()), "throttle".into(), 2, 2);
        assert_eq!(w.fault("PushMeteringData", &["prod"]), None, "another operation");
        assert_eq!(w.fault("BatchMeterUsage", &["other"]), None, "another scope");
        assert_eq!(w.fault("BatchMeterUsage", &["prod"]), None, "one in two: the first passes");
        assert_eq!(w.fault("BatchMeterUsage", &["prod"]).as_deref(), Some("throttle"));
        w.fault("BatchMeterUsage", &["prod"]);
        assert_eq!(w.fault("BatchMeterUsage", &["prod"]).as_deref(), Some("throttle"));
        w.fault("BatchMeterUsage", &["prod"]);
        assert_eq!(w.fault("BatchMeterUsage", &["prod"]), None, "count spent");
        w.add_fault("any".into(), None, "error".into(), 1, 1);
        assert_eq!(w.fault("OrderQuery", &["x"]).as_deref(), Some("error"));
        w.add_fault("PushUsage".into(), None, "reject".into(), 1, 1);
        assert_eq!(w.fault("KooGalleryUsage", &[]).as_deref(), Some("reject"), "the old operation name");
    }

    #[test]
    fn reset_keeps_the_configuration_only() {
        let mut w = World::new(Config { huawei_key: "k".into(), ..Config::default() });
        w.ledger.push(Value::Null);
        w.set_clock("x", Utc::now());
        w.add_fault("any".into(), None, "error".into(), 1, 1);
        w.reset();
        assert!(w.ledger.is_empty() && w.clocks.is_empty() && w.faults.is_empty());
        assert_eq!(w.config.huawei_key, "k");
    }

    #[test]
    fn the_default_products_are_the_catalogues() {
        let items: BTreeMap<String, String> = serde_json::from_str(DEFAULT_ALIYUN_METERING_ITEMS).unwrap();
        assert_eq!(items.len(), 10);
        assert_eq!(items["log_events"], "cmapi00000001-Frequency-1");
        assert_eq!(parse_dimensions(DEFAULT_AWS_DIMENSIONS).len(), 10);
        assert_eq!(parse_dimensions(" A, B ,,C"), ["A", "B", "C"].into_iter().map(String::from).collect());
    }
}
