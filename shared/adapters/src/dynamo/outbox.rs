//! The email outbox. A pending intent sits in gsi1 until it is sent (keys in `keys.rs`).

use super::{conditional, from_item, key, keys, n, s, sdk_error, str_attr, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use billing_domain::backoff::Backoff;
use billing_domain::email::{Email, EmailIntent};
use billing_domain::ports::OutboxStore;
use billing_domain::Result;
use chrono::{DateTime, Utc};

/// How long a sender holds an intent; past it, another run may take it (the sender died).
const LEASE_SECONDS: i64 = 60;
/// How long marking an accepted email as sent keeps trying (well inside the lease).
const MARK_SENT_PERSISTENCE: std::time::Duration = std::time::Duration::from_secs(40);
/// Between two tries at marking an email sent: 0.1 s doubling up to 2 s.
const MARK_SENT: Backoff = Backoff::new(100, 2_000);

/// An intent as stored: pending, indexed in the outbox until sent. `leased_to_writer`: the
/// request that commits it sends it right away, so no other sender may take it meanwhile.
pub(crate) fn email_item(
    intent: &EmailIntent,
    created_at: DateTime<Utc>,
    leased_to_writer: bool,
) -> Result<super::Item> {
    let mut it = super::item(
        &intent.email,
        &[
            ("pk", keys::mail(&intent.id)),
            ("sk", keys::MAIL_SK.into()),
            ("gsi1pk", keys::OUTBOX.into()),
            ("gsi1sk", keys::outbox_sk(created_at, &intent.id)),
            ("id", intent.id.clone()),
            ("status", "pending".into()),
        ],
    )?;
    it.insert("attempts".into(), n(0));
    it.insert("created_at".into(), s(created_at.to_rfc3339()));
    if leased_to_writer {
        it.insert("lease_until".into(), n(created_at.timestamp() + LEASE_SECONDS));
    }
    Ok(it)
}

impl DynamoStore {
    /// The lease just taken had run out without a release: its holder died between taking it and
    /// recording the outcome, perhaps after SES had accepted the email, which then goes twice (SES
    /// has no idempotency key). Counted on the intent and in the metrics so that every such email
    /// is known; never in the way of the send.
    async fn taken_over(&self, id: &str) {
        billing_domain::telemetry::email_taken_over();
        tracing::warn!(email_id = %id, "an email's sender died before recording whether SES took it: sending it again");
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::mail(id), keys::MAIL_SK)))
            .update_expression("ADD takeovers :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        if let Err(e) = out {
            tracing::warn!(email_id = %id, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "takeover not recorded");
        }
    }

    /// SES took an email whose intent is not in the table: the commit that wrote it was
    /// acknowledged and then lost (DynamoDB Local killed under it; DynamoDB itself does not lose
    /// an acknowledged write). The change will be made again, with its email, which then goes twice:
    /// recorded beside the intent's key so that the operators and the checks know which.
    async fn unrecorded(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        tracing::error!(email_id = %id, "SES took an email whose intent the table does not hold: recorded as unrecorded");
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(key(keys::mail(id), keys::MAIL_UNRECORDED_SK)))
            .item("sent_at", s(now.to_rfc3339()))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn lease(&self, id: &str, now: DateTime<Utc>) -> Result<Option<EmailIntent>> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::mail(id), keys::MAIL_SK)))
            .update_expression("SET lease_until = :until ADD attempts :one")
            .condition_expression("#st = :pending AND (attribute_not_exists(lease_until) OR lease_until < :now)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":until", n(now.timestamp() + LEASE_SECONDS))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let Some(o) = conditional(out)? else {
            return Ok(None); // sent, unknown, or leased by another sender
        };
        let item = o.attributes.unwrap_or_default();
        if item.contains_key("lease_until") {
            self.taken_over(id).await;
        }
        let id = str_attr(&item, "id").unwrap_or_else(|| id.to_string());
        Ok(Some(EmailIntent { id, email: from_item::<Email>(item)? }))
    }

    /// SES has accepted the email: losing this write would send it again once the lease
    /// ends, so it is retried for longer than a short DynamoDB outage lasts.
    async fn mark_sent(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        let give_up = std::time::Instant::now() + MARK_SENT_PERSISTENCE;
        let mut attempt = 0;
        loop {
            let sent = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(keys::mail(id), keys::MAIL_SK)))
                .update_expression("SET #st = :sent, sent_at = :at REMOVE gsi1pk, gsi1sk, lease_until")
                // An update never creates the intent it marks: a phantom `sent` intent would stand
                // in the way of the commit that writes the real one.
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":sent", s("sent"))
                .expression_attribute_values(":at", s(now.to_rfc3339()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                    return self.unrecorded(id, now).await;
                }
                Err(e) if std::time::Instant::now() >= give_up => return Err(sdk_error(e)),
                Err(e) => {
                    tracing::warn!(email_id = %id, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "marking an email sent: retrying");
                    MARK_SENT.wait(attempt).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn release(&self, id: &str, error: &str) -> Result<()> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::mail(id), keys::MAIL_SK)))
            .update_expression("SET last_error = :e REMOVE lease_until")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":e", s(error.chars().take(500).collect::<String>()))
            .send()
            .await;
        conditional(out)?; // an intent that is not there has nothing to release
        Ok(())
    }

    async fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>> {
        let (items, _) = self.query_page(Some("gsi1"), "gsi1pk", keys::OUTBOX, "gsi1sk", "", Some(1), None).await?;
        // gsi1sk is `<created_at>#<id>`: the index keeps the oldest first.
        Ok(items
            .first()
            .and_then(|i| str_attr(i, "created_at"))
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    async fn pending(&self, limit: usize) -> Result<Vec<String>> {
        let (items, _) =
            self.query_page(Some("gsi1"), "gsi1pk", keys::OUTBOX, "gsi1sk", "", Some(limit as i32), None).await?;
        Ok(items.iter().filter_map(|i| str_attr(i, "id")).collect())
    }
}
