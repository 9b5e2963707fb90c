//! AWS Marketplace Metering: the customer-resolver port on `ResolveCustomer`, and the
//! metering port on `BatchMeterUsage`.

use async_trait::async_trait;
use aws_sdk_marketplacemetering::operation::batch_meter_usage::BatchMeterUsageError;
use aws_sdk_marketplacemetering::operation::resolve_customer::ResolveCustomerError;
use aws_sdk_marketplacemetering::types::{UsageRecord, UsageRecordResultStatus};
use billing_domain::model::AwsCustomer;
use billing_domain::ports::{CustomerResolver, MarketMeter, MeterRecord, ResolveError};
use billing_domain::rules::metering::{FallbackReason, SendOutcome};

pub struct MeteringResolver {
    client: aws_sdk_marketplacemetering::Client,
}

impl MeteringResolver {
    pub fn new(client: aws_sdk_marketplacemetering::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl CustomerResolver for MeteringResolver {
    async fn resolve(&self, registration_token: &str) -> Result<AwsCustomer, ResolveError> {
        let out =
            self.client.resolve_customer().registration_token(registration_token).send().await.map_err(|e| match e
                .as_service_error()
            {
                Some(
                    ResolveCustomerError::InvalidTokenException(_) | ResolveCustomerError::ExpiredTokenException(_),
                ) => ResolveError::InvalidToken,
                _ => ResolveError::Unavailable(aws_sdk_marketplacemetering::error::DisplayErrorContext(e).to_string()),
            })?;
        // Everything it returns is kept: new integrations get a licence and no customer
        // identifier, products integrated before licences get the identifier.
        let present = |v: Option<String>| v.filter(|s| !s.is_empty());
        let (customer_identifier, license_arn) = (present(out.customer_identifier), present(out.license_arn));
        match (present(out.customer_aws_account_id), present(out.product_code)) {
            (Some(aws_account_id), Some(product_code)) if customer_identifier.is_some() || license_arn.is_some() => {
                Ok(AwsCustomer { customer_identifier, aws_account_id, product_code, license_arn })
            }
            _ => Err(ResolveError::Unavailable("ResolveCustomer answered without a customer or a licence".into())),
        }
    }
}

/// AWS Marketplace `BatchMeterUsage`: one product a call, at most 25 records; the customer is
/// named by its AWS account id and licence where the licence is known, by its customer
/// identifier otherwise. Unprocessed records are sent again a few times in the same run.
pub struct AwsMeter {
    client: aws_sdk_marketplacemetering::Client,
}

impl AwsMeter {
    pub fn new(client: aws_sdk_marketplacemetering::Client) -> Self {
        Self { client }
    }
}

/// What identifies one record in a call's answer.
fn record_key(r: &UsageRecord) -> (String, String, String, i64) {
    (
        r.customer_aws_account_id().map(str::to_string).unwrap_or_else(|| r.customer_identifier().to_string()),
        r.license_arn().unwrap_or_default().to_string(),
        r.dimension().to_string(),
        r.timestamp().secs(),
    )
}

fn usage_record(m: &MeterRecord<'_>) -> Result<UsageRecord, String> {
    let mut b = UsageRecord::builder()
        .timestamp(aws_sdk_marketplacemetering::primitives::DateTime::from_secs(m.report.at.timestamp()))
        .dimension(m.dimension)
        .quantity(i32::try_from(m.report.quantity).unwrap_or(i32::MAX));
    b = match (&m.account.license_arn, &m.account.customer_identifier) {
        (Some(license), _) => b.customer_aws_account_id(&m.account.account_id).license_arn(license),
        (None, Some(customer)) => b.customer_identifier(customer),
        (None, None) => b.customer_aws_account_id(&m.account.account_id),
    };
    b.build().map_err(|e| e.to_string())
}

#[async_trait]
impl MarketMeter for AwsMeter {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        let mut out = vec![SendOutcome::Retry("not sent".into()); records.len()];
        let mut by_product: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for (i, r) in records.iter().enumerate() {
            by_product.entry(r.account.product_code.clone().unwrap_or_default()).or_default().push(i);
        }
        for (product, idx) in by_product {
            for chunk in idx.chunks(25) {
                let mut pending: Vec<usize> = chunk.to_vec();
                for attempt in 0..3u32 {
                    let mut built = Vec::new();
                    for i in &pending {
                        match usage_record(&records[*i]) {
                            Ok(u) => built.push((*i, u)),
                            Err(e) => out[*i] = SendOutcome::Retry(e),
                        }
                    }
                    let call = self
                        .client
                        .batch_meter_usage()
                        .product_code(&product)
                        .set_usage_records(Some(built.iter().map(|(_, u)| u.clone()).collect()))
                        .send()
                        .await;
                    let answer = match call {
                        Ok(a) => a,
                        Err(e) => {
                            let refused = matches!(
                                e.as_service_error(),
                                Some(
                                    BatchMeterUsageError::InvalidCustomerIdentifierException(_)
                                        | BatchMeterUsageError::InvalidLicenseException(_)
                                )
                            );
                            let why = aws_sdk_marketplacemetering::error::DisplayErrorContext(&e).to_string();
                            if !refused
                                && !matches!(e.as_service_error(), Some(BatchMeterUsageError::ThrottlingException(_)))
                            {
                                tracing::warn!(error = %why, "BatchMeterUsage failed; the records are sent again next run");
                            }
                            for (i, _) in &built {
                                out[*i] = if refused {
                                    SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
                                } else {
                                    SendOutcome::Retry(why.clone())
                                };
                            }
                            break;
                        }
                    };
                    let by_key: std::collections::HashMap<_, usize> =
                        built.iter().map(|(i, u)| (record_key(u), *i)).collect();
                    for result in answer.results() {
                        let (Some(u), Some(status)) = (result.usage_record(), result.status()) else { continue };
                        let Some(i) = by_key.get(&record_key(u)) else { continue };
                        out[*i] = match status {
                            // A record sent again as it was is `Success`; `DuplicateRecord` means
                            // AWS holds another quantity under its key and did not take this one.
                            UsageRecordResultStatus::Success => SendOutcome::Accepted,
                            UsageRecordResultStatus::DuplicateRecord => {
                                SendOutcome::Refused(FallbackReason::DuplicateRecord)
                            }
                            UsageRecordResultStatus::CustomerNotSubscribed => {
                                SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
                            }
                            other => SendOutcome::Retry(format!("status {}", other.as_str())),
                        };
                    }
                    pending = answer
                        .unprocessed_records()
                        .iter()
                        .filter_map(|u| by_key.get(&record_key(u)).copied())
                        .collect();
                    for i in &pending {
                        out[*i] = SendOutcome::Retry("unprocessed".into());
                    }
                    if pending.is_empty() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        out
    }
}
