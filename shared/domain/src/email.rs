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

    #[test]
    fn cancellation_lists_every_workspace() {
        let ws = vec![("a".to_string(), "cn1".to_string()), ("b".to_string(), "us1".to_string())];
        let e = cancellation("x@y.co", Language::En, "1234", &ws, ws.len());
        assert!(e.text.contains("- a (cn1)") && e.text.contains("- b (us1)"));
        assert_eq!(e.html.matches("<li>").count(), 2);
    }
}
