//! The mailer port on SES v1 `SendEmail`, with text and HTML parts.

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use billing_domain::email::Email;
use billing_domain::ports::{MailError, Mailer};

pub struct SesMailer {
    client: aws_sdk_ses::Client,
    sender: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_ses::Client, sender: String) -> Self {
        Self { client, sender }
    }
}

fn content(s: &str) -> Result<Content, MailError> {
    Content::builder().data(s).charset("UTF-8").build().map_err(|e| MailError(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).html(content(&email.html)?).build())
            .build();
        self.client
            .send_email()
            .source(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| MailError(aws_sdk_ses::error::DisplayErrorContext(e).to_string()))
    }
}
