//! A month's bill (flow 11), as pure decisions: its lines as stored become the bill a customer
//! reads — enterprise lines with their amount, cloud lines with their report status, totals per
//! payer and currency — as JSON or as CSV (RFC 4180). An issued bill is the same document,
//! fixed for good (`rules::issuing`).

use super::rating::{line_amount, LinePayer};
use crate::model::Platform;
use crate::money::{Amount, Currency};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A line as stored: what usage added up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub workspace_id: String,
    pub workspace_name: String,
    pub site: String,
    pub item: String,
    pub payer: LinePayer,
    pub quantity: Amount,
    /// Cloud lines: how much of it the marketplace has confirmed (see flow 10).
    pub reported: Amount,
    /// Cloud lines: how much of it the marketplace could not take (now on a fallback line).
    pub fell_back: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportView {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayerView {
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillLine {
    pub workspace_id: String,
    pub workspace_name: String,
    pub site: String,
    pub item: String,
    pub quantity: String,
    pub unit: &'static str,
    pub payer: PayerView,
    pub amount: Option<String>,
    pub currency: Option<Currency>,
    pub report: Option<ReportView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Total {
    pub payer: PayerView,
    pub currency: Option<Currency>,
    pub amount: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BillStatus {
    Open,
    Issued,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bill {
    pub month: String,
    pub billing_account: String,
    pub lines: Vec<BillLine>,
    pub totals: Vec<Total>,
    pub closed: bool,
    pub status: BillStatus,
    pub issued_at: Option<DateTime<Utc>>,
    /// The enterprise total per currency, exactly as the totals show it (what issuing charges).
    #[serde(skip)]
    pub enterprise: BTreeMap<Currency, Amount>,
}

fn platform_method(p: Platform) -> &'static str {
    match p {
        Platform::Aliyun => "aliyun",
        Platform::Aws => "aws",
        Platform::Huawei => "huawei",
    }
}

const ENTERPRISE: PayerView = PayerView { method: "enterprise", cloud_account_id: None };

/// One stored line as the bill shows it; its amount, if charged to enterprise.
fn bill_line(l: StoredLine) -> (BillLine, Option<(Currency, Amount)>) {
    let currency = Currency::of_site(&l.site);
    let unit = crate::billing_items::find(&l.item).map(|i| i.unit).unwrap_or_default();
    let (payer, amount, report) = match &l.payer {
        LinePayer::Enterprise | LinePayer::FellBack { .. } => {
            let amount = line_amount(l.quantity, &l.item, currency);
            let report = match &l.payer {
                LinePayer::FellBack { reason, .. } => {
                    Some(ReportView { status: "fell_back", reason: Some(reason.clone()) })
                }
                _ => None,
            };
            (ENTERPRISE, Some(amount), report)
        }
        LinePayer::Cloud { platform, cloud_account_id } => {
            let status = if l.reported >= l.quantity { "reported" } else { "pending" };
            let payer =
                PayerView { method: platform_method(*platform), cloud_account_id: Some(cloud_account_id.clone()) };
            (payer, None, Some(ReportView { status, reason: None }))
        }
    };
    let line = BillLine {
        workspace_id: l.workspace_id,
        workspace_name: l.workspace_name,
        site: l.site,
        item: l.item,
        quantity: l.quantity.normalize().to_string(),
        unit,
        payer,
        amount: amount.map(|a| format!("{a:.2}")),
        currency: amount.map(|_| currency),
        report,
    };
    (line, amount.map(|a| (currency, a)))
}

/// A month's bill from its lines (flow 11). Enterprise lines (and usage that fell back to
/// enterprise, with its reason) carry their amount, and the enterprise total of a currency is
/// the sum of its lines' amounts as shown; cloud lines carry their report status.
pub fn bill(month: &str, billing_account: &str, mut stored: Vec<StoredLine>, closed: bool) -> Bill {
    stored.sort_by(|a, b| {
        (&a.workspace_name, &a.workspace_id, &a.item, &a.payer).cmp(&(
            &b.workspace_name,
            &b.workspace_id,
            &b.item,
            &b.payer,
        ))
    });
    let mut enterprise: BTreeMap<Currency, Amount> = BTreeMap::new();
    let mut clouds: BTreeMap<String, Platform> = BTreeMap::new();
    let mut lines = Vec::new();
    for mut l in stored {
        // What fell back is billed on its own enterprise line, not here.
        l.quantity -= l.fell_back;
        if l.quantity.is_zero() {
            continue;
        }
        if let LinePayer::Cloud { platform, cloud_account_id } = &l.payer {
            clouds.insert(cloud_account_id.clone(), *platform);
        }
        let (line, charged) = bill_line(l);
        if let Some((currency, amount)) = charged {
            *enterprise.entry(currency).or_default() += amount;
        }
        lines.push(line);
    }
    let mut totals: Vec<Total> = enterprise
        .iter()
        .map(|(c, a)| Total { payer: ENTERPRISE, currency: Some(*c), amount: Some(format!("{a:.2}")) })
        .collect();
    totals.extend(clouds.into_iter().map(|(id, p)| Total {
        payer: PayerView { method: platform_method(p), cloud_account_id: Some(id) },
        currency: None,
        amount: None,
    }));
    Bill {
        month: month.to_string(),
        billing_account: billing_account.to_string(),
        lines,
        totals,
        closed,
        status: BillStatus::Open,
        issued_at: None,
        enterprise,
    }
}

/// When a month's bill is final.
pub fn bill_closed(month_start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= super::usage::closes_at(month_start)
}

/// The CSV download's columns: one row per line, then one per total (`row` says which).
pub const CSV_HEADER: [&str; 15] = [
    "month",
    "billing_account",
    "row",
    "workspace_id",
    "workspace_name",
    "site",
    "item",
    "unit",
    "quantity",
    "payer",
    "cloud_account_id",
    "currency",
    "amount",
    "report_status",
    "report_reason",
];

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
/// doubled. A field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or CR
/// first: a workspace name is the customer's own text) is prefixed with `'` so it stays text.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn csv_row(out: &mut String, fields: &[&str]) {
    let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&row.join(","));
    out.push_str("\r\n");
}

/// The bill as CSV: UTF-8, CRLF line ends, a header row, one row per line, one per total.
pub fn csv(b: &Bill) -> String {
    let mut out = String::new();
    csv_row(&mut out, &CSV_HEADER);
    let code = |c: Option<Currency>| c.map(|c| c.code()).unwrap_or_default();
    for l in &b.lines {
        let report = l.report.as_ref();
        csv_row(
            &mut out,
            &[
                &b.month,
                &b.billing_account,
                "line",
                &l.workspace_id,
                &l.workspace_name,
                &l.site,
                &l.item,
                l.unit,
                &l.quantity,
                l.payer.method,
                l.payer.cloud_account_id.as_deref().unwrap_or_default(),
                code(l.currency),
                l.amount.as_deref().unwrap_or_default(),
                report.map(|r| r.status).unwrap_or_default(),
                report.and_then(|r| r.reason.as_deref()).unwrap_or_default(),
            ],
        );
    }
    for t in &b.totals {
        let (payer, cloud) = (t.payer.method, t.payer.cloud_account_id.as_deref().unwrap_or_default());
        let amount = t.amount.as_deref().unwrap_or_default();
        csv_row(
            &mut out,
            &[
                &b.month,
                &b.billing_account,
                "total",
                "",
                "",
                "",
                "",
                "",
                "",
                payer,
                cloud,
                code(t.currency),
                amount,
                "",
                "",
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Amount {
        Amount::from_str(s).unwrap()
    }

    fn line(item: &str, q: &str, payer: LinePayer, site: &str) -> StoredLine {
        StoredLine {
            workspace_id: "ws1".into(),
            workspace_name: "prod".into(),
            site: site.into(),
            item: item.into(),
            payer,
            quantity: d(q),
            reported: Amount::ZERO,
            fell_back: Amount::ZERO,
        }
    }

    fn sample() -> Bill {
        let cloud = LinePayer::Cloud { platform: Platform::Aws, cloud_account_id: "aws-1".into() };
        let fell = LinePayer::FellBack {
            platform: Platform::Aws,
            cloud_account_id: "aws-1".into(),
            reason: "customer_not_subscribed".into(),
        };
        bill(
            "2026-11",
            "acme",
            vec![
                line("log_events", "0.004167", LinePayer::Enterprise, "cn1"), // 0.0050004 → 0.01
                line("time_series", "1.0125", LinePayer::Enterprise, "cn1"),  // 0.6075 → 0.61
                line("time_series", "3", cloud, "us1"),
                line("time_series", "2", fell, "us1"), // 0.18
            ],
            false,
        )
    }

    #[test]
    fn a_bill_rounds_each_enterprise_line_half_up_and_totals_per_payer_and_currency() {
        let b = sample();
        let amounts: Vec<Option<String>> = b.lines.iter().map(|l| l.amount.clone()).collect();
        assert_eq!(amounts, vec![Some("0.01".into()), Some("0.61".into()), None, Some("0.18".into())]);
        assert_eq!(
            b.lines[3].report.as_ref().map(|r| (r.status, r.reason.clone())),
            Some(("fell_back", Some("customer_not_subscribed".into())))
        );
        assert_eq!(b.lines[2].report.as_ref().map(|r| r.status), Some("pending"));
        let totals: Vec<(Option<Currency>, Option<String>)> =
            b.totals.iter().map(|t| (t.currency, t.amount.clone())).collect();
        assert_eq!(
            totals,
            vec![(Some(Currency::Cny), Some("0.62".into())), (Some(Currency::Usd), Some("0.18".into())), (None, None)]
        );
        assert_eq!(b.enterprise, BTreeMap::from([(Currency::Cny, d("0.62")), (Currency::Usd, d("0.18"))]));
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!((json["status"].as_str(), json["issued_at"].is_null()), (Some("open"), true));
        assert!(json.get("enterprise").is_none());
    }

    #[test]
    fn the_csv_has_a_header_a_row_per_line_and_a_row_per_total() {
        let csv = csv(&sample());
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(rows.len(), 1 + 4 + 3 + 1, "header, 4 lines, 3 totals, and the final CRLF");
        assert_eq!(rows[0], CSV_HEADER.join(","));
        assert_eq!(rows[1], "2026-11,acme,line,ws1,prod,cn1,log_events,1M events,0.004167,enterprise,,CNY,0.01,,");
        assert_eq!(
            rows[4],
            "2026-11,acme,line,ws1,prod,us1,time_series,1k series,2,enterprise,,USD,0.18,fell_back,customer_not_subscribed"
        );
        assert_eq!(rows[5], "2026-11,acme,total,,,,,,,enterprise,,CNY,0.62,,");
        assert_eq!(rows[7], "2026-11,acme,total,,,,,,,aws,aws-1,,,,");
        assert_eq!(rows[8], "");
    }

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says_and_formulas_stay_text() {
        let cases = [
            ("plain", "plain"),
            ("生产环境", "生产环境"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@sum", "'@sum"),
        ];
        for (v, want) in cases {
            assert_eq!(csv_field(v), want, "{v}");
        }
    }
}
