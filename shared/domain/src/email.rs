//! Emails the billing center sends, in the workspace's language, and the durable intent
//! that carries one from the transaction that caused it to SES.

use crate::model::Language;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// An email to send, written in the same transaction as the change that causes it.
/// Its `id` is fixed by what caused it, so writing it twice is refused by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailIntent {
    pub id: String,
    pub email: Email,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// 开通提醒: sent on every upgrade and every commercial registration.
pub fn activation(
    to: &str,
    language: Language,
    billing_username: &str,
    workspace_name: &str,
    site_name: &str,
) -> Email {
    let (subject, lines) = match language {
        Language::Zh => (
            format!("开通提醒：工作空间「{workspace_name}」已开通商业版"),
            vec![
                "您好，".to_string(),
                format!("您的工作空间「{workspace_name}」（{site_name}）已开通商业版，结算方式为观测云企业账号结算。"),
                format!("费用中心账号：{billing_username}。您可以登录费用中心查看账单明细、更改结算方式。"),
            ],
        ),
        Language::En => (
            format!("Activated: workspace \"{workspace_name}\" is now on the commercial plan"),
            vec![
                "Hello,".to_string(),
                format!("Your workspace \"{workspace_name}\" ({site_name}) is now on the commercial plan, settled through your enterprise billing account."),
                format!("Billing account: {billing_username}. Sign in to the billing center to see your bills or change how you pay."),
            ],
        ),
    };
    render(to, subject, &lines, &[])
}

/// Sent once per billing account when a cloud account's subscription ends. `listed` holds
/// at most [`MAX_LISTED`] of the `total` workspaces that changed.
pub fn cancellation(
    to: &str,
    language: Language,
    cloud_account: &str,
    listed: &[(String, String)],
    total: usize,
) -> Email {
    let (subject, lines) = match language {
        Language::Zh => (
            "结算方式变更通知：已切换为观测云企业账号结算".to_string(),
            vec![
                "您好，".to_string(),
                format!("云账号 {cloud_account} 的订阅已取消，以下工作空间已解除与该账号的关联，并修改为采用观测云费用中心账号的结算方式："),
            ],
        ),
        Language::En => (
            "Settlement changed: now settled through your enterprise billing account".to_string(),
            vec![
                "Hello,".to_string(),
                format!("The subscription of cloud account {cloud_account} has ended. These workspaces are no longer settled through it and now settle through your billing account:"),
            ],
        ),
    };
    let mut items: Vec<String> =
        listed.iter().take(MAX_LISTED).map(|(name, site)| format!("{name} ({site})")).collect();
    let more = total.saturating_sub(items.len());
    if more > 0 {
        items.push(match language {
            Language::Zh => format!("……以及另外 {more} 个工作空间，完整列表见费用中心的工作空间管理"),
            Language::En => format!("… and {more} more workspaces: see workspace management in the billing center"),
        });
    }
    render(to, subject, &lines, &items)
}

/// 欠费提醒: sent when a balance first falls below zero, and again only after a top-up has
/// brought it back to zero or above.
pub fn arrears(to: &str, language: Language, billing_username: &str, currency: &str, balance: &str) -> Email {
    let (subject, lines) = match language {
        Language::Zh => (
            format!("欠费提醒：费用中心账号 {billing_username} 的余额已低于零"),
            vec![
                "您好，".to_string(),
                format!("您的费用中心账号 {billing_username} 的 {currency} 余额为 {balance}，已低于零。"),
                "请登录费用中心充值结算，以免影响工作空间的使用。".to_string(),
            ],
        ),
        Language::En => (
            format!("Balance below zero: billing account {billing_username}"),
            vec![
                "Hello,".to_string(),
                format!("The {currency} balance of your billing account {billing_username} is {balance}, below zero."),
                "Please top up in the billing center so that your workspaces keep running.".to_string(),
            ],
        ),
    };
    render(to, subject, &lines, &[])
}

/// Lines listed in one statement email; the rest are counted and the CSV download holds all
/// (a DynamoDB item, the intent, holds 400 KB).
pub const MAX_STATEMENT_LINES: usize = 200;

fn statement_line(language: Language, l: &crate::rules::bill::BillLine) -> String {
    let item = crate::billing_items::find(&l.item);
    let name = item.map(|i| if language == Language::Zh { i.name.zh } else { i.name.en }).unwrap_or(&l.item);
    let amount = match (&l.amount, l.currency) {
        (Some(a), Some(c)) => format!("{} {a}", c.code()),
        _ => match language {
            Language::Zh => {
                format!("由 {} 云账号 {} 结算", l.payer.method, l.payer.cloud_account_id.as_deref().unwrap_or_default())
            }
            Language::En => format!(
                "paid through {} account {}",
                l.payer.method,
                l.payer.cloud_account_id.as_deref().unwrap_or_default()
            ),
        },
    };
    let fell_back = match (l.report.as_ref().and_then(|r| r.reason.as_deref()), language) {
        (Some(reason), Language::Zh) => format!("（云市场未能结算，转企业账号：{reason}）"),
        (Some(reason), Language::En) => format!(" (the marketplace could not take it: {reason})"),
        (None, _) => String::new(),
    };
    format!("{} ({}) · {name} {} × {} · {amount}{fell_back}", l.workspace_name, l.site, l.quantity, l.unit)
}

/// 账单 (the statement): sent once when a month's bill is issued, with its lines (the first
/// [`MAX_STATEMENT_LINES`]) and every total.
pub fn statement(to: &str, language: Language, bill: &crate::rules::bill::Bill) -> Email {
    let (account, month) = (&bill.billing_account, &bill.month);
    let totals: Vec<String> = bill
        .totals
        .iter()
        .map(|t| match (&t.amount, t.currency, language) {
            (Some(a), Some(c), Language::Zh) => format!("企业账号结算合计（{}）：{a}", c.code()),
            (Some(a), Some(c), Language::En) => format!("Enterprise total ({}): {a}", c.code()),
            (_, _, Language::Zh) => format!(
                "{} 云账号 {}：由云市场出账",
                t.payer.method,
                t.payer.cloud_account_id.as_deref().unwrap_or_default()
            ),
            (_, _, Language::En) => format!(
                "{} account {}: billed by its marketplace",
                t.payer.method,
                t.payer.cloud_account_id.as_deref().unwrap_or_default()
            ),
        })
        .collect();
    let (subject, mut lines) = match language {
        Language::Zh => (
            format!("账单已出：费用中心账号 {account} 的 {month} 账单"),
            vec![
                "您好，".to_string(),
                format!("您的费用中心账号 {account} 的 {month} 账单已出账，以下为账单明细与合计。企业账号结算的合计已从余额中扣除；完整明细可在费用中心下载（CSV）。"),
            ],
        ),
        Language::En => (
            format!("Your {month} bill: billing account {account}"),
            vec![
                "Hello,".to_string(),
                format!("The {month} bill of your billing account {account} is issued. Its lines and totals are below; the enterprise totals are charged to your balance. The billing center has the whole bill as CSV."),
            ],
        ),
    };
    lines.extend(totals);
    let mut items: Vec<String> =
        bill.lines.iter().take(MAX_STATEMENT_LINES).map(|l| statement_line(language, l)).collect();
    let more = bill.lines.len().saturating_sub(items.len());
    if more > 0 {
        items.push(match language {
            Language::Zh => format!("……以及另外 {more} 条明细，完整账单请在费用中心下载"),
            Language::En => format!("… and {more} more lines: download the whole bill in the billing center"),
        });
    }
    if bill.lines.is_empty() {
        items.push(match language {
            Language::Zh => "本月没有用量。".to_string(),
            Language::En => "No usage this month.".to_string(),
        });
    }
    render(to, subject, &lines, &items)
}

/// Workspaces named in one cancellation email. An account can settle thousands; listing
/// them all would exceed what a DynamoDB item (the intent) can hold and what a reader reads.
pub const MAX_LISTED: usize = 100;

fn render(to: &str, subject: String, lines: &[String], items: &[String]) -> Email {
    let mut text = lines.join("\n\n");
    let mut html = lines.iter().map(|l| format!("<p>{}</p>", escape(l))).collect::<String>();
    if !items.is_empty() {
        text.push_str("\n\n");
        text.push_str(&items.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n"));
        html.push_str("<ul>");
        html.push_str(&items.iter().map(|i| format!("<li>{}</li>", escape(i))).collect::<String>());
        html.push_str("</ul>");
    }
    Email { to: to.to_string(), subject, text, html: format!("<html><body>{html}</body></html>") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_is_in_the_workspace_language_and_names_it() {
        let zh = activation("a@b.co", Language::Zh, "acme", "生产环境", "中国区1（杭州）");
        assert!(zh.subject.contains("开通提醒") && zh.subject.contains("生产环境"));
        let en = activation("a@b.co", Language::En, "acme", "prod <1>", "us1");
        assert!(en.subject.contains("prod <1>"));
        assert!(en.html.contains("prod &lt;1&gt;") && !en.html.contains("prod <1>"));
        assert_eq!(en.to, "a@b.co");
    }

    #[test]
    fn a_cancellation_of_thousands_lists_the_first_hundred_and_counts_the_rest() {
        let ws: Vec<(String, String)> = (0..10_000).map(|i| (format!("workspace-{i:05}"), "cn1".to_string())).collect();
        for (language, more) in [(Language::En, "and 9900 more"), (Language::Zh, "另外 9900 个")] {
            let e = cancellation("x@y.co", language, "1234", &ws[..MAX_LISTED], ws.len());
            assert_eq!(e.html.matches("<li>").count(), MAX_LISTED + 1);
            assert!(e.text.contains("workspace-00099") && !e.text.contains("workspace-00100"));
            assert!(e.text.contains(more), "{}", e.text);
            assert!(e.text.len() + e.html.len() < 64 * 1024, "well under DynamoDB's 400 KB item limit");
        }
    }

    fn statement_bill(lines: usize) -> crate::rules::bill::Bill {
        use crate::rules::bill::{bill, StoredLine};
        use crate::rules::rating::LinePayer;
        let stored = (0..lines)
            .map(|i| StoredLine {
                workspace_id: format!("ws{i:04}"),
                workspace_name: format!("w<{i:04}>"),
                site: "cn1".into(),
                item: "log_events".into(),
                payer: LinePayer::Enterprise,
                quantity: crate::money::Amount::from(i as i64 + 1),
                reported: crate::money::Amount::ZERO,
                fell_back: crate::money::Amount::ZERO,
            })
            .collect();
        bill("2026-11", "acme", stored, true)
    }

    #[test]
    fn a_statement_lists_lines_and_every_total_in_the_account_language() {
        let b = statement_bill(3);
        let zh = statement("a@b.co", Language::Zh, &b);
        assert!(zh.subject.contains("2026-11") && zh.subject.contains("账单"), "{}", zh.subject);
        assert!(zh.text.contains("w<0000> (cn1) · 日志 1 × 1M events · CNY 1.20"), "{}", zh.text);
        assert!(zh.text.contains("企业账号结算合计（CNY）：7.20"), "{}", zh.text);
        assert!(zh.html.contains("w&lt;0002&gt;"));
        let en = statement("a@b.co", Language::En, &b);
        assert!(en.subject.starts_with("Your 2026-11 bill"));
        assert!(en.text.contains("Enterprise total (CNY): 7.20") && en.text.contains("Log events 3 × 1M events"));
    }

    #[test]
    fn a_statement_of_thousands_of_lines_lists_the_first_and_counts_the_rest() {
        let e = statement("a@b.co", Language::En, &statement_bill(5000));
        assert_eq!(e.html.matches("<li>").count(), MAX_STATEMENT_LINES + 1);
        assert!(e.text.contains("and 4800 more lines"));
        assert!(e.text.len() + e.html.len() < 160 * 1024, "well under DynamoDB's 400 KB item limit");
    }

    #[test]
    fn cancellation_lists_every_workspace() {
        let ws = vec![("a".to_string(), "cn1".to_string()), ("b".to_string(), "us1".to_string())];
        let e = cancellation("x@y.co", Language::En, "1234", &ws, ws.len());
        assert!(e.text.contains("- a (cn1)") && e.text.contains("- b (us1)"));
        assert_eq!(e.html.matches("<li>").count(), 2);
    }
}
