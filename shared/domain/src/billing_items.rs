//! The billing items (计费项) ship with the code, like the site catalogue. Prices are
//! illustrative configuration, not facts. Each item names the dimension it is metered as on
//! AWS Marketplace and the fixed metering key of Alibaba Cloud's `PushMeteringData` it is pushed
//! under (flow 10). KooGallery takes one value in CNY, not items.

use crate::money::{Amount, Currency};
use serde::Serialize;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Names {
    pub zh: &'static str,
    pub en: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingItem {
    pub id: &'static str,
    pub name: Names,
    pub unit: &'static str,
    /// List price per unit, as decimal strings (parsed exactly by [`BillingItem::price`]).
    pub cny: &'static str,
    pub usd: &'static str,
    /// The AWS Marketplace dimension this item is metered as.
    pub aws_dimension: &'static str,
    /// The fixed key of Alibaba Cloud's `PushMeteringData` entity ("Key：计量项属性名称"): a count
    /// of events is `Frequency` ("使用次数"), a count of things that exist `Unit`, gigabytes
    /// stored `StorageGigaByte` ("参数中直接传递的参数单位是GB").
    pub aliyun_key: &'static str,
}

impl BillingItem {
    pub fn price(&self, currency: Currency) -> Amount {
        let text = match currency {
            Currency::Cny => self.cny,
            Currency::Usd => self.usd,
        };
        Amount::from_str(text).expect("catalogue prices are decimals (a unit test checks them)")
    }
}

pub const ITEMS: &[BillingItem] = &[
    item("time_series", "时间线", "Time series", "1k series", "0.60", "0.09", "TimeSeries", "Unit"),
    item("log_events", "日志", "Log events", "1M events", "1.20", "0.18", "LogEvents", "Frequency"),
    item("apm_traces", "应用性能监测", "APM traces", "1M spans", "2.00", "0.30", "ApmTraces", "Frequency"),
    item("rum_views", "用户访问监测", "RUM page views", "10k views", "0.70", "0.10", "RumViews", "Frequency"),
    item("synthetics", "可用性监测", "Synthetic tests", "10k runs", "1.00", "0.15", "SyntheticRuns", "Frequency"),
    item("security_checks", "安全巡检", "Security checks", "10k events", "0.70", "0.10", "SecurityChecks", "Frequency"),
    item("profiles", "性能剖析", "Profiles", "1k profiles", "0.15", "0.02", "Profiles", "Frequency"),
    item(
        "metrics_storage",
        "指标存储",
        "Metric storage",
        "GB-day",
        "0.03",
        "0.005",
        "MetricStorage",
        "StorageGigaByte",
    ),
    item("log_storage", "日志存储", "Log storage", "GB-day", "0.05", "0.007", "LogStorage", "StorageGigaByte"),
    item("alert_sms", "告警短信", "Alert SMS", "10 messages", "0.45", "0.07", "AlertSms", "Frequency"),
];

#[allow(clippy::too_many_arguments)]
const fn item(
    id: &'static str,
    zh: &'static str,
    en: &'static str,
    unit: &'static str,
    cny: &'static str,
    usd: &'static str,
    aws_dimension: &'static str,
    aliyun_key: &'static str,
) -> BillingItem {
    BillingItem { id, name: Names { zh, en }, unit, cny, usd, aws_dimension, aliyun_key }
}

pub fn find(id: &str) -> Option<&'static BillingItem> {
    ITEMS.iter().find(|i| i.id == id)
}

/// What `quantity` of `item` costs at list price, exactly (balances are charged exactly; a
/// bill line rounds its total). An item not in the catalogue costs nothing.
pub fn cost(item: &str, quantity: Amount, currency: Currency) -> Amount {
    find(item).map(|i| quantity * i.price(currency)).unwrap_or_default()
}

/// `GET /v1/billing/items` (api.md, `BillingItem`).
#[derive(Debug, Clone, Serialize)]
pub struct BillingItemView {
    pub id: &'static str,
    pub name: Names,
    pub unit: &'static str,
    pub price: std::collections::BTreeMap<&'static str, String>,
}

impl From<&BillingItem> for BillingItemView {
    fn from(i: &BillingItem) -> Self {
        let price = Currency::ALL.iter().map(|c| (c.code(), i.price(*c).to_string())).collect();
        Self { id: i.id, name: i.name, unit: i.unit, price }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_price_is_a_positive_decimal_and_ids_are_unique() {
        let mut ids = std::collections::HashSet::new();
        for i in ITEMS {
            assert!(ids.insert(i.id), "{} twice", i.id);
            for c in Currency::ALL {
                assert!(i.price(c) > Amount::ZERO, "{} {c:?}", i.id);
            }
            assert!(!i.aws_dimension.is_empty() && !i.aliyun_key.is_empty());
        }
        assert_eq!(ITEMS.len(), 10);
        assert_eq!(find("log_events").map(|i| i.price(Currency::Cny).to_string()), Some("1.20".into()));
    }
}
