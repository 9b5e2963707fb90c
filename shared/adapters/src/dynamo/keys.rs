//! Every key of the one table, and the layout they make. Nothing else in `dynamo/` spells a
//! key: the test at the end fails when a key-like literal appears in any other file of it.
//!
//! These strings are the data on file (and what the integration tests and tools read): a
//! change here orphans every item already stored. Billing usernames are lowercased wherever
//! they are part of a key, as usernames are unique regardless of case; nothing else is.
//!
//! Both indexes are overloaded and sparse: an item is in `gsi1` (`gsi1pk` / `gsi1sk`) or
//! `gsi2` (`gsi2pk` / `gsi2sk`) only while it carries that index's attributes.
//!
//! Accounts (`accounts.rs`):
//! - user: `USER#<id> / USER`.
//! - login guards, one per email and phone of a site: `LOGIN#<site>#email#<addr> / GUARD`,
//!   `LOGIN#<site>#phone#<num> / GUARD` (`user_id`).
//! - billing account: `BILLING#<name> / ACCOUNT`.
//! - registration of a cloud account on a billing account: `BILLING#<name> / CLOUD#<cloud>`,
//!   gsi2 `CLOUD#<cloud> / REG#<name>` (deleted by `cancellation.rs`).
//! - workspace: `WS#<id> / WS`, gsi1 `BILLING#<name> / WS#<id>` once commercial, gsi2
//!   `CLOUD#<cloud> / WS#<id>` while a cloud account pays for it (`cancellation.rs` takes it
//!   off gsi2 when it switches the workspace to enterprise).
//! - settlement history: `WS#<id> / HIST#<at, ms>#<ulid>` (also `cancellation.rs`).
//!
//! Marketplaces (`marketplace.rs`):
//! - cloud account: `CLOUD#<id> / CLOUD`, gsi1 `BUYERUNKNOWN / <id>` while a KooGallery
//!   instance's buyer is not known.
//! - AWS landing claim: `CLAIM#<claim> / CLAIM` (consumed by `accounts.rs` on binding).
//! - landing nonce: `NONCE#<nonce> / NONCE`.
//! - AWS identity (`cust:...`, `lic:...`) to its account: `AWSID#<identity> / AWSID`.
//! - agreement: `AGMT#<id> / AGMT`, gsi1 `LICAGMT#<acceptor>|<licence key> / <id>` once its
//!   licence is known.
//! - cancellation run: `CANCEL#<run> / RUN`, gsi1 `CANCELS / <event time>#<run>` until closed
//!   (updated by `cancellation.rs`).
//!
//! Cancellations (`cancellation.rs`):
//! - switched workspace of a run: `CANCEL#<run> / WS#<billing name>#<workspace>`.
//!
//! Sign-in and requests:
//! - password-check throttle: `ATTEMPT#<login key> / ATTEMPT` (`attempts.rs`).
//! - `Idempotency-Key` record: `IDEM#<key> / IDEM` (`idempotency.rs`).
//! - email intent: `MAIL#<id> / MAIL`, gsi1 `OUTBOX / <created at>#<id>` while pending
//! - an email SES took whose intent the store did not hold when it was marked sent (a commit the
//!   store acknowledged and then lost): `MAIL#<id> / UNRECORDED`, for the operators and the checks.
//!   (`outbox.rs`; written with their cause by `accounts.rs`, `cancellation.rs`, `usage.rs`,
//!   `bills.rs`).
//!
//! Usage and balances (`usage.rs`):
//! - usage record, the guard against counting one twice: `UREC#<site>#<record id> / UREC`.
//! - balance: `BILLING#<name> / BALANCE#<currency>` (also `bills.rs`, `metering.rs`).
//! - top-up: `TOPUP#<reference> / TOPUP`.
//!
//! Bill lines (`lines.rs`, for `usage.rs` and `metering.rs`):
//! - line: `BILL#<name>#<YYYY-MM> / L#<workspace>#<item>#<payer key>`; a cloud line also gsi2
//!   `METER#<cloud> / <item>#<YYYY-MM>#<workspace>`.
//! - metering due mark: `METER#<cloud> / DUE` (below).
//!
//! Bills (`bills.rs`):
//! - month: `BILL#<name>#<YYYY-MM> / MONTH`, gsi1 `BILLSDUE / <YYYY-MM>#<name>` until issued.
//! - issued bill: `BILL#<name>#<YYYY-MM> / ISSUED`; a large one in parts
//!   `BILL#<name>#<YYYY-MM> / ISSUED#<nonce>#<json|csv>#<nnnn>`.
//! - settlement of an issue: `BILLING#<name> / SETTLE#<YYYY-MM>#<currency>`.
//!
//! Metering (`metering.rs`):
//! - due mark: `METER#<cloud> / DUE`, gsi1 `METERDUE / <cloud>` while it has usage to report
//!   (set by `lines.rs` with every usage commit), gsi2 `METEROPEN / <cloud>` while reports are
//!   open, else `METERCARRY / <cloud>` while its lines hold usage in no report.
//! - report: `METERREP#<cloud> / <at, s>#<item>`, gsi1
//!   `METERREPORTS#<YYYY-MM-DD> / <at, s>#<cloud>#<item>`.

use billing_domain::money::Currency;
use billing_domain::rules::rating::{LineKey, LinePayer};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

// Accounts.

pub fn user(id: &str) -> String {
    format!("USER#{id}")
}
pub const USER_SK: &str = "USER";

pub fn email_guard(site: &str, email: &str) -> String {
    format!("LOGIN#{site}#email#{email}")
}
pub fn phone_guard(site: &str, phone: &str) -> String {
    format!("LOGIN#{site}#phone#{phone}")
}
pub const GUARD_SK: &str = "GUARD";

/// Billing usernames are unique regardless of case.
pub fn billing(username: &str) -> String {
    format!("BILLING#{}", username.to_lowercase())
}
pub const ACCOUNT_SK: &str = "ACCOUNT";

/// A registration's sort key under its billing account.
pub fn registration_sk(cloud_account_id: &str) -> String {
    format!("{REGISTRATIONS}{cloud_account_id}")
}
/// The sort-key prefix of a billing account's registrations.
pub const REGISTRATIONS: &str = "CLOUD#";
/// A registration's gsi2 sort key under its cloud account.
pub fn registration_gsi2sk(username: &str) -> String {
    format!("{REGISTERED_TO}{}", username.to_lowercase())
}
/// The gsi2 sort-key prefix of a cloud account's registrations.
pub const REGISTERED_TO: &str = "REG#";

pub fn workspace(id: &str) -> String {
    format!("{WORKSPACES}{id}")
}
pub const WORKSPACE_SK: &str = "WS";
/// The index sort-key prefix of the workspaces of a billing account (gsi1) or a cloud account
/// (gsi2), whose sort keys are the workspaces' own `pk`.
pub const WORKSPACES: &str = "WS#";

/// A settlement change of a workspace, ordered by time; `unique` tells apart two at one time.
pub fn history_sk(at: DateTime<Utc>, unique: &str) -> String {
    format!("{HISTORY}{}#{unique}", at.to_rfc3339_opts(SecondsFormat::Millis, true))
}
/// The sort-key prefix of a workspace's settlement history.
pub const HISTORY: &str = "HIST#";

// Marketplaces.

pub fn cloud(id: &str) -> String {
    format!("CLOUD#{id}")
}
pub const CLOUD_SK: &str = "CLOUD";
/// The gsi1 partition of the cloud accounts whose buyer is not known (sort key: their id).
pub const BUYERS_UNKNOWN: &str = "BUYERUNKNOWN";

pub fn claim(claim: &str) -> String {
    format!("CLAIM#{claim}")
}
pub const CLAIM_SK: &str = "CLAIM";

pub fn nonce(nonce: &str) -> String {
    format!("NONCE#{nonce}")
}
pub const NONCE_SK: &str = "NONCE";

pub fn aws_identity(identity: &str) -> String {
    format!("AWSID#{identity}")
}
pub const AWS_IDENTITY_SK: &str = "AWSID";

pub fn agreement(id: &str) -> String {
    format!("AGMT#{id}")
}
pub const AGREEMENT_SK: &str = "AGMT";
/// The gsi1 partition of an acceptor's agreements on one licence (sort key: their id).
pub fn licence_agreements(acceptor: &str, license_arn: &str) -> String {
    format!("LICAGMT#{acceptor}|{}", billing_domain::model::license_key(license_arn))
}

pub fn cancel(run: &str) -> String {
    format!("CANCEL#{run}")
}
pub const RUN_SK: &str = "RUN";
/// The gsi1 partition of the cancellation runs not closed yet.
pub const OPEN_CANCELS: &str = "CANCELS";
pub fn open_cancel_sk(event_at: DateTime<Utc>, run: &str) -> String {
    format!("{}#{run}", event_at.to_rfc3339())
}

/// A workspace a cancellation run switched, under the run.
pub fn switched_sk(billing_username: &str, workspace_id: &str) -> String {
    format!("{SWITCHED}{}#{workspace_id}", billing_username.to_lowercase())
}
/// The sort-key prefix of a run's switched workspaces.
pub const SWITCHED: &str = "WS#";

// Sign-in and requests.

pub fn attempt(login_key: &str) -> String {
    format!("ATTEMPT#{login_key}")
}
pub const ATTEMPT_SK: &str = "ATTEMPT";

pub fn idempotency(key: &str) -> String {
    format!("IDEM#{key}")
}
pub const IDEMPOTENCY_SK: &str = "IDEM";

pub fn mail(id: &str) -> String {
    format!("MAIL#{id}")
}
pub const MAIL_SK: &str = "MAIL";
pub const MAIL_UNRECORDED_SK: &str = "UNRECORDED";
/// The gsi1 partition of pending emails, oldest first.
pub const OUTBOX: &str = "OUTBOX";
pub fn outbox_sk(created_at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", created_at.to_rfc3339())
}

// Usage and balances.

pub fn usage_record(site: &str, record_id: &str) -> String {
    format!("UREC#{site}#{record_id}")
}
pub const USAGE_RECORD_SK: &str = "UREC";

/// Under the billing account.
pub fn balance_sk(currency: Currency) -> String {
    format!("{BALANCES}{}", currency.code())
}
/// The sort-key prefix of a billing account's balances.
pub const BALANCES: &str = "BALANCE#";

pub fn top_up(reference: &str) -> String {
    format!("TOPUP#{reference}")
}
pub const TOP_UP_SK: &str = "TOPUP";

// Bill lines and bills.

/// A billing account's month: its lines, the month itself and its issued bill.
pub fn bill(billing_account: &str, month: &str) -> String {
    format!("BILL#{}#{month}", billing_account.to_lowercase())
}

pub fn line_sk(k: &LineKey) -> String {
    format!("{LINES}{}#{}#{}", k.workspace_id, k.item, k.payer.key())
}
/// The sort-key prefix of a month's lines.
pub const LINES: &str = "L#";
/// A cloud line's place in its cloud account's metering index (gsi2).
pub fn meter_line_index(k: &LineKey) -> Option<(String, String)> {
    match &k.payer {
        LinePayer::Cloud { cloud_account_id, .. } => {
            Some((meter(cloud_account_id), format!("{}#{}#{}", k.item, k.month, k.workspace_id)))
        }
        _ => None,
    }
}

pub const MONTH_SK: &str = "MONTH";
/// The gsi1 partition of the months not issued yet.
pub const BILLS_DUE: &str = "BILLSDUE";
pub fn bills_due_sk(month: &str, billing_account: &str) -> String {
    format!("{month}#{}", billing_account.to_lowercase())
}
/// The month and billing account of a [`bills_due_sk`].
pub fn parse_bills_due_sk(sk: &str) -> Option<(&str, &str)> {
    sk.split_once('#')
}

pub const ISSUED_SK: &str = "ISSUED";
/// The sort-key prefix of one issue's parts.
pub fn issued_parts(nonce: &str) -> String {
    format!("ISSUED#{nonce}#")
}
/// The sort-key prefix of one issue's parts of a kind (`json`, `csv`).
pub fn issued_parts_of(nonce: &str, kind: &str) -> String {
    format!("{}{kind}#", issued_parts(nonce))
}
pub fn issued_part_sk(nonce: &str, kind: &str, index: usize) -> String {
    format!("{}{index:04}", issued_parts_of(nonce, kind))
}

/// Under the billing account.
pub fn settle_sk(month: &str, currency: Currency) -> String {
    format!("SETTLE#{month}#{}", currency.code())
}

// Metering.

/// A cloud account's due mark, and the gsi2 partition of its cloud lines.
pub fn meter(cloud_account_id: &str) -> String {
    format!("METER#{cloud_account_id}")
}
pub const METER_DUE_SK: &str = "DUE";
/// The gsi1 partition of the accounts with usage to report (sort key: their id).
pub const METER_DUE: &str = "METERDUE";
/// The gsi2 partition of the accounts with reports open (sort key: their id).
pub const METER_OPEN: &str = "METEROPEN";
/// The gsi2 partition of the accounts whose lines hold usage in no report (sort key: their id).
pub const METER_CARRY: &str = "METERCARRY";

pub fn meter_reports(cloud_account_id: &str) -> String {
    format!("METERREP#{cloud_account_id}")
}
pub fn meter_report_sk(at: DateTime<Utc>, item: &str) -> String {
    format!("{}#{item}", at.to_rfc3339_opts(SecondsFormat::Secs, true))
}
/// The gsi1 partition of one day's reports, for the reconciliation.
pub fn meter_reports_of_day(day: NaiveDate) -> String {
    format!("METERREPORTS#{}", day.format("%Y-%m-%d"))
}
pub fn meter_reports_of_day_sk(at: DateTime<Utc>, cloud_account_id: &str, item: &str) -> String {
    format!("{}#{cloud_account_id}#{item}", at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_domain::model::Platform;
    use std::path::Path;

    /// The keys as the stored data has them: a change here is a migration, not a refactoring.
    #[test]
    fn every_key_is_spelled_as_the_data_on_file() {
        let at = DateTime::parse_from_rfc3339("2024-03-05T06:07:08.009Z").unwrap().with_timezone(&Utc);
        let line = |payer| LineKey {
            billing_account: "Acme".into(),
            month: "2024-03".into(),
            workspace_id: "w1".into(),
            item: "cpu".into(),
            payer,
        };
        let cloud_line = line(LinePayer::Cloud { platform: Platform::Aws, cloud_account_id: "c1".into() });
        let fell_back = line(LinePayer::FellBack {
            platform: Platform::Aws,
            cloud_account_id: "c1".into(),
            reason: "refused".into(),
        });
        let table: Vec<(String, &str)> = vec![
            (user("u1"), "USER#u1"),
            (USER_SK.into(), "USER"),
            (email_guard("cn", "A@b.c"), "LOGIN#cn#email#A@b.c"),
            (phone_guard("cn", "+86 1"), "LOGIN#cn#phone#+86 1"),
            (GUARD_SK.into(), "GUARD"),
            (billing("AcMe"), "BILLING#acme"),
            (ACCOUNT_SK.into(), "ACCOUNT"),
            (registration_sk("C1"), "CLOUD#C1"),
            (REGISTRATIONS.into(), "CLOUD#"),
            (registration_gsi2sk("AcMe"), "REG#acme"),
            (REGISTERED_TO.into(), "REG#"),
            (workspace("W1"), "WS#W1"),
            (WORKSPACE_SK.into(), "WS"),
            (WORKSPACES.into(), "WS#"),
            (history_sk(at, "01HX"), "HIST#2024-03-05T06:07:08.009Z#01HX"),
            (HISTORY.into(), "HIST#"),
            (cloud("C1"), "CLOUD#C1"),
            (CLOUD_SK.into(), "CLOUD"),
            (BUYERS_UNKNOWN.into(), "BUYERUNKNOWN"),
            (claim("k1"), "CLAIM#k1"),
            (CLAIM_SK.into(), "CLAIM"),
            (nonce("n1"), "NONCE#n1"),
            (NONCE_SK.into(), "NONCE"),
            (aws_identity("cust:X"), "AWSID#cust:X"),
            (AWS_IDENTITY_SK.into(), "AWSID"),
            (agreement("agmt-1"), "AGMT#agmt-1"),
            (AGREEMENT_SK.into(), "AGMT"),
            (licence_agreements("123", "arn:aws:license-manager::1:license/l-AB12"), "LICAGMT#123|l-ab12"),
            (cancel("r1"), "CANCEL#r1"),
            (RUN_SK.into(), "RUN"),
            (OPEN_CANCELS.into(), "CANCELS"),
            (open_cancel_sk(at, "r1"), "2024-03-05T06:07:08.009+00:00#r1"),
            (switched_sk("AcMe", "W1"), "WS#acme#W1"),
            (SWITCHED.into(), "WS#"),
            (attempt("cn#a@b.c"), "ATTEMPT#cn#a@b.c"),
            (ATTEMPT_SK.into(), "ATTEMPT"),
            (idempotency("K"), "IDEM#K"),
            (IDEMPOTENCY_SK.into(), "IDEM"),
            (mail("m1"), "MAIL#m1"),
            (MAIL_SK.into(), "MAIL"),
            (MAIL_UNRECORDED_SK.into(), "UNRECORDED"),
            (OUTBOX.into(), "OUTBOX"),
            (outbox_sk(at, "m1"), "2024-03-05T06:07:08.009+00:00#m1"),
            (usage_record("cn", "R1"), "UREC#cn#R1"),
            (USAGE_RECORD_SK.into(), "UREC"),
            (balance_sk(Currency::Cny), "BALANCE#CNY"),
            (BALANCES.into(), "BALANCE#"),
            (top_up("T1"), "TOPUP#T1"),
            (TOP_UP_SK.into(), "TOPUP"),
            (bill("AcMe", "2024-03"), "BILL#acme#2024-03"),
            (line_sk(&line(LinePayer::Enterprise)), "L#w1#cpu#enterprise"),
            (line_sk(&cloud_line), "L#w1#cpu#cloud#c1"),
            (line_sk(&fell_back), "L#w1#cpu#fallback#c1#refused"),
            (LINES.into(), "L#"),
            (MONTH_SK.into(), "MONTH"),
            (BILLS_DUE.into(), "BILLSDUE"),
            (bills_due_sk("2024-03", "AcMe"), "2024-03#acme"),
            (ISSUED_SK.into(), "ISSUED"),
            (issued_parts("N1"), "ISSUED#N1#"),
            (issued_parts_of("N1", "csv"), "ISSUED#N1#csv#"),
            (issued_part_sk("N1", "json", 7), "ISSUED#N1#json#0007"),
            (settle_sk("2024-03", Currency::Usd), "SETTLE#2024-03#USD"),
            (meter("c1"), "METER#c1"),
            (METER_DUE_SK.into(), "DUE"),
            (METER_DUE.into(), "METERDUE"),
            (METER_OPEN.into(), "METEROPEN"),
            (METER_CARRY.into(), "METERCARRY"),
            (meter_reports("c1"), "METERREP#c1"),
            (meter_report_sk(at, "cpu"), "2024-03-05T06:07:08Z#cpu"),
            (meter_reports_of_day(at.date_naive()), "METERREPORTS#2024-03-05"),
            (meter_reports_of_day_sk(at, "c1", "cpu"), "2024-03-05T06:07:08Z#c1#cpu"),
        ];
        for (built, stored) in table {
            assert_eq!(built, stored);
        }
        assert_eq!(meter_line_index(&cloud_line), Some(("METER#c1".into(), "cpu#2024-03#w1".into())));
        assert_eq!(meter_line_index(&line(LinePayer::Enterprise)), None);
        assert_eq!(meter_line_index(&fell_back), None);
        assert_eq!(parse_bills_due_sk("2024-03#acme"), Some(("2024-03", "acme")));
    }

    /// Where `line` holds a string literal that reads as a key: a run of capitals or
    /// underscores right after a quote, then `#` (a prefix) or, two or more, the closing quote
    /// (a constant partition or sort key).
    fn key_literal(line: &str) -> Option<String> {
        let b = line.as_bytes();
        for (i, _) in line.match_indices('"') {
            let run = b[i + 1..].iter().take_while(|c| c.is_ascii_uppercase() || **c == b'_').count();
            match b.get(i + 1 + run) {
                Some(b'#') if run >= 1 => return Some(line[i..i + run + 2].to_string()),
                Some(b'"') if run >= 2 => return Some(line[i..i + run + 2].to_string()),
                _ => {}
            }
        }
        None
    }

    #[test]
    fn the_scan_sees_prefixes_and_constants_but_not_other_text() {
        assert_eq!(key_literal(r#"key(format!("CLAIM#{c}"), x)"#).as_deref(), Some("\"CLAIM#"));
        assert_eq!(key_literal(r#"self.query(x, "L#").await"#).as_deref(), Some("\"L#"));
        assert_eq!(key_literal(r#"("gsi1pk", "OUTBOX".into())"#).as_deref(), Some("\"OUTBOX\""));
        assert_eq!(key_literal(r##".name("#st", "status").value(":ttl", n(1))"##), None);
        assert_eq!(key_literal(r#"Some("ConditionalCheckFailed") | Some("A")"#), None);
        assert_eq!(key_literal(r##"let s = r#"x"#;"##), None);
    }

    #[test]
    fn no_key_is_built_outside_keys_rs() {
        // Cargo's run-time value: a test binary reused from a build cache may come from a
        // checkout at another path, which the compile-time one names.
        let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
        let dir = Path::new(&root).join("src/dynamo");
        let mut found = Vec::new();
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("the dynamo sources") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_none_or(|e| e != "rs") || path.file_name().is_some_and(|n| n == "keys.rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue; // docs name keys as the layout reads, in backticks
                }
                if let Some(lit) = key_literal(line) {
                    found.push(format!("{}:{}: {lit}", path.display(), n + 1));
                }
            }
        }
        assert!(files >= 10, "the scan read only {files} files of {}", dir.display());
        assert!(found.is_empty(), "keys built outside keys.rs (add them there):\n{}", found.join("\n"));
    }
}
