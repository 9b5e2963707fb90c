//! The customer-resolver port on AWS Marketplace Metering `ResolveCustomer`.

use async_trait::async_trait;
use aws_sdk_marketplacemetering::operation::resolve_customer::ResolveCustomerError;
use billing_domain::model::AwsCustomer;
use billing_domain::ports::{CustomerResolver, ResolveError};

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
