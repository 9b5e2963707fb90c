//! The traits the domain reaches the outside world through. Each has one real adapter
//! in `billing-adapters`; the domain never names an AWS type.

use crate::email::{Email, EmailIntent};
use crate::error::Result;
use crate::model::{AwsCustomer, BillingAccount, CloudAccount, CloudStatus, SettlementChange, User, Workspace};
use crate::money::Currency;
use crate::rules::agreements::Agreement;
use crate::rules::balance::Balance;
use crate::rules::bill::StoredLine;
use crate::rules::issuing::{IssuedBill, Settling};
use crate::rules::metering::{FallbackReason, MeterLine, MeterReport, SendOutcome};
use crate::rules::rating::{BalanceDelta, LineDelta, MonthKey, UsageCommit};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How a commercial write touches the billing account.
#[derive(Debug, Clone)]
pub enum BillingWrite {
    /// A new account; fails with `BillingUsernameTaken` if the username exists.
    Create(BillingAccount),
    /// An existing account whose password the caller proved; fails with
    /// `BillingCredentialsInvalid` if its password changed since it was checked.
    Bind { username: String, password_hash_checked: String },
}

/// A cloud account a write binds a workspace to.
#[derive(Debug, Clone)]
pub struct CloudBinding {
    pub account: CloudAccount,
    /// The AWS landing claim consumed by this write, if the account came from one.
    pub claim: Option<String>,
}

/// Everything one registration writes, all or nothing. Its `emails` are written leased to
/// the writer (for the outbox's lease time), which sends them right after the commit.
#[derive(Debug, Clone)]
pub struct RegistrationWrite {
    pub user: User,
    pub workspace: Workspace,
    pub billing: Option<BillingWrite>,
    pub cloud: Option<CloudBinding>,
    pub emails: Vec<EmailIntent>,
    /// The settlement history's first entry (commercial registrations).
    pub history: Option<SettlementChange>,
}

/// An upgrade: the workspace (conditioned on still being free) and its billing account;
/// `emails` as in [`RegistrationWrite`].
#[derive(Debug, Clone)]
pub struct UpgradeWrite {
    pub workspace: Workspace,
    pub billing: BillingWrite,
    pub emails: Vec<EmailIntent>,
    pub history: SettlementChange,
}

/// A settlement change: one conditional write on the workspace's version.
#[derive(Debug, Clone)]
pub struct SettlementWrite {
    /// The workspace as it is to be stored; its `version` is one more than the read one.
    pub workspace: Workspace,
    pub cloud: Option<CloudBinding>,
    pub history: SettlementChange,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn user(&self, id: &str) -> Result<Option<User>>;
    async fn user_by_login(&self, site: &str, login: &str) -> Result<Option<User>>;
    async fn billing_account(&self, username: &str) -> Result<Option<BillingAccount>>;
    async fn workspace(&self, id: &str) -> Result<Option<Workspace>>;
    /// The workspaces of these ids that exist, in one round trip per hundred.
    async fn workspaces(&self, ids: &[String]) -> Result<Vec<Workspace>>;
    /// A workspace's settlement history, oldest first.
    async fn settlement_history(&self, workspace_id: &str) -> Result<Vec<SettlementChange>>;
    async fn workspaces_of_billing_account(&self, username: &str) -> Result<Vec<Workspace>>;
    /// The cloud accounts registered on a billing account, with their current status.
    async fn registered_cloud_accounts(&self, username: &str) -> Result<Vec<CloudAccount>>;
    async fn commit_registration(&self, write: &RegistrationWrite) -> Result<()>;
    async fn commit_upgrade(&self, write: &UpgradeWrite) -> Result<()>;
    async fn commit_settlement(&self, write: &SettlementWrite) -> Result<()>;
    /// `Ok(None)` when no such billing account exists.
    async fn set_free_choice(&self, username: &str, enabled: bool) -> Result<Option<BillingAccount>>;
}

/// How many password checks may fail for one key within one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub max_failures: u32,
    pub window: chrono::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptGrant {
    /// The attempt is taken: it counts as a failure unless the check succeeds and clears it.
    Granted,
    /// `max_failures` are counted in the window that ends at `until`.
    Locked { until: DateTime<Utc> },
}

/// Password-check throttling for `429 too_many_attempts`. An attempt is taken, atomically,
/// before the password is checked, so concurrent guesses cannot all be checked.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    async fn take(&self, key: &str, throttle: Throttle, now: DateTime<Utc>) -> Result<AttemptGrant>;
    /// A check succeeded: the key starts afresh.
    async fn clear(&self, key: &str) -> Result<()>;
}

/// The durable email outbox: intents are written with the state change that causes them.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Takes a lease on a pending intent so that no two senders send it; `None` if it is
    /// sent, unknown, or leased by someone else.
    async fn lease(&self, id: &str, now: DateTime<Utc>) -> Result<Option<EmailIntent>>;
    async fn mark_sent(&self, id: &str, now: DateTime<Utc>) -> Result<()>;
    async fn release(&self, id: &str, error: &str) -> Result<()>;
    /// Ids of intents still pending, oldest first.
    async fn pending(&self, limit: usize) -> Result<Vec<String>>;
    /// When the oldest intent still pending was written, if any is.
    async fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>>;
}

#[derive(Debug, thiserror::Error)]
#[error("mail not sent: {0}")]
pub struct MailError(pub String);

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> std::result::Result<(), MailError>;
}

/// What a marketplace event did to a cloud account.
// One per event, moved once: boxing the account would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Applied; the account as it now stands.
    Applied { account: CloudAccount },
    /// Older than what is on file: ignored.
    Stale,
}

#[async_trait]
pub trait MarketplaceStore: Send + Sync {
    async fn cloud_account(&self, id: &str) -> Result<Option<CloudAccount>>;
    /// Creates the account if it is new (idempotent: an existing one is returned unchanged).
    async fn open_cloud_account(&self, account: &CloudAccount) -> Result<CloudAccount>;
    /// Moves an account to `status` unless an event newer than `event_at` was applied.
    /// Moving to cancelled stamps `cancelled_at` (once per end of subscription).
    async fn transition(&self, id: &str, status: CloudStatus, event_at: DateTime<Utc>) -> Result<Option<Transition>>;
    async fn save_claim(&self, claim: &str, customer: &AwsCustomer, expires_at: DateTime<Utc>) -> Result<()>;
    async fn claim(&self, claim: &str, now: DateTime<Utc>) -> Result<Option<AwsCustomer>>;
    /// Remembers `nonce` until `expires_at`; `Ok(false)` if it was seen before (a replay).
    async fn first_use_of_nonce(&self, nonce: &str, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<bool>;
    /// Records that a marketplace refused the account's usage (kept once: the first time).
    async fn mark_refused(&self, id: &str, at: DateTime<Utc>) -> Result<()>;
    /// An AWS agreement as recorded from its events.
    async fn agreement(&self, id: &str) -> Result<Option<Agreement>>;
    /// Writes `agreement` if the stored one is still at `agreement.version - 1` (absent for 1);
    /// `Ok(false)` when another writer came first. An agreement whose licence is known is listed
    /// under it.
    async fn save_agreement(&self, agreement: &Agreement) -> Result<bool>;
    /// The agreements recorded on one licence of one buyer.
    async fn agreements_of_licence(&self, acceptor: &str, license_arn: &str) -> Result<Vec<Agreement>>;
    /// The cloud account an AWS identity (`cust:...` / `lic:...`) is linked to.
    async fn aws_alias(&self, identity: &str) -> Result<Option<String>>;
    /// Links an AWS identity to a cloud account unless it is linked already; the account it is
    /// linked to.
    async fn link_aws_alias(&self, identity: &str, cloud_account_id: &str) -> Result<String>;
    /// Records what `ResolveCustomer` returned for an AWS account: its licence ARN wins over an
    /// event's, and identifiers it lacked are filled in.
    async fn learn_aws_identity(&self, id: &str, customer: &AwsCustomer) -> Result<CloudAccount>;
    /// Records the buyer of an instance opened before its buyer was known (KooGallery).
    async fn learn_buyer(&self, id: &str, account_id: &str) -> Result<CloudAccount>;
    /// Instances whose buyer is not known yet.
    async fn buyers_unknown(&self) -> Result<Vec<String>>;
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("invalid or expired registration token")]
    InvalidToken,
    #[error("marketplace unavailable: {0}")]
    Unavailable(String),
}

/// AWS Marketplace Metering's `ResolveCustomer`.
#[async_trait]
pub trait CustomerResolver: Send + Sync {
    async fn resolve(&self, registration_token: &str) -> std::result::Result<AwsCustomer, ResolveError>;
}

/// A workspace switched by a cancellation, as remembered for the email.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SwitchedWorkspace {
    pub workspace_id: String,
    pub name: String,
    pub language: crate::model::Language,
    pub site: String,
    pub billing_account: String,
}

/// The steps of a cancellation, each idempotent so a rerun finishes the job.
#[async_trait]
pub trait CancellationStore: Send + Sync {
    /// Up to `limit` workspaces still settled by the cloud account.
    async fn settled_by(&self, cloud_account_id: &str, limit: usize) -> Result<Vec<Workspace>>;
    /// Switches these workspaces to enterprise (each only if still settled by the account)
    /// and remembers each switch under the cancellation, in bounded transactions.
    /// Each switch appends the workspace's history entry (`cause`, `actor`).
    async fn switch_to_enterprise(
        &self,
        cancellation_id: &str,
        cloud_account_id: &str,
        workspaces: &[Workspace],
        cause: crate::model::ChangeCause,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// One page of the workspaces a run switched, ordered by billing account; pass the
    /// returned cursor to read the next page (`None`: this was the last).
    async fn switched_page(
        &self,
        cancellation_id: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<SwitchedWorkspace>, Option<String>)>;
    /// Billing accounts that have the cloud account registered.
    async fn registrations(&self, cloud_account_id: &str) -> Result<Vec<String>>;
    /// Removes the registration and, if given, writes the email intent (once: its id is fixed).
    async fn finish_billing_account(
        &self,
        cloud_account_id: &str,
        username: &str,
        email: Option<&EmailIntent>,
    ) -> Result<()>;
    /// Records the first time the run finished; the run stays listed for one recheck.
    async fn mark_done(&self, cancellation_id: &str, now: DateTime<Utc>) -> Result<()>;
    /// When the run first finished, if it has.
    async fn finished_at(&self, cancellation_id: &str) -> Result<Option<DateTime<Utc>>>;
    /// Takes the run off the sweeper's list for good.
    async fn close(&self, cancellation_id: &str, now: DateTime<Utc>) -> Result<()>;
    /// Runs not closed yet, `(run, cloud account id)`, for the sweeper to continue or recheck.
    async fn open_runs(&self) -> Result<Vec<(String, String)>>;
}

/// A response kept for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyBegin {
    /// First use of the key: run the request, then `complete` or `abandon`.
    Started,
    /// The same request ran before: answer with its response.
    Replay(StoredResponse),
    /// The same request is running right now.
    InProgress,
    /// The key was used with another request.
    Mismatch,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn begin(&self, key: &str, request_hash: &str, now: DateTime<Utc>) -> Result<IdempotencyBegin>;
    async fn complete(&self, key: &str, response: &StoredResponse, now: DateTime<Utc>) -> Result<()>;
    async fn abandon(&self, key: &str) -> Result<()>;
}

/// How many writes one atomic commit of the store may hold (DynamoDB transactions: 100).
pub const MAX_COMMIT_ITEMS: usize = 100;

/// What committing usage found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageOutcome {
    Committed,
    /// Nothing was written: these records (index in the commit, stored fingerprint) exist,
    /// and these months' bills were issued meanwhile (their usage is too late).
    Refused {
        existing: Vec<(usize, Option<String>)>,
        issued: Vec<MonthKey>,
    },
}

/// A top-up as recorded (flow 11).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopUp {
    pub reference: String,
    pub username: String,
    pub amount: crate::money::Amount,
    pub currency: Currency,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopUpOutcome {
    Created,
    /// The reference was recorded before: this is the top-up on file.
    Existing(TopUp),
}

/// Usage, bill lines and balances.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Writes the records, their bill lines and balance charges, all or nothing; each record
    /// only if it does not exist yet.
    async fn commit_usage(&self, commit: &UsageCommit, now: DateTime<Utc>) -> Result<UsageOutcome>;
    /// A billing account's lines for a month (`YYYY-MM`): one query.
    async fn bill_lines(&self, billing_account: &str, month: &str) -> Result<Vec<StoredLine>>;
    /// A billing account's balances, read consistently.
    async fn balances(&self, billing_account: &str) -> Result<Vec<(Currency, Balance)>>;
    /// Moves the arrears flag to what `next` says if the balance still stands as `seen`,
    /// writing `email` in the same transaction; `Ok(false)` when the balance moved meanwhile.
    async fn mark_arrears(
        &self,
        billing_account: &str,
        currency: Currency,
        seen: &Balance,
        next: &Balance,
        email: Option<&EmailIntent>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records a top-up and adds it to the balance, once per reference;
    /// `Err(BillingAccountNotFound)` for an unknown account.
    async fn top_up(&self, top_up: &TopUp) -> Result<TopUpOutcome>;
}

/// One part of a report falling back: the cloud line it leaves, the enterprise line (with its
/// reason) it lands on, and what it charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackPart {
    pub cloud_line: crate::rules::rating::LineKey,
    pub delta: crate::money::Amount,
    pub line: LineDelta,
    pub charge: BalanceDelta,
    /// The month (`YYYY-MM`, the current one) the enterprise line and its charge land in
    /// instead when the bill of the line's own month is already issued: an issued bill never
    /// changes, so a late charge goes on the next bill.
    pub open_month: String,
}

/// A billing account's month as issuing sees it (flow 11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthState {
    /// The month's enterprise charges as they accrued on the balance, exactly, per currency.
    pub accrued: std::collections::BTreeMap<Currency, crate::money::Amount>,
    /// Bumped by every usage or fallback written to the month: issuing is conditioned on it.
    pub version: u64,
    pub issued_at: Option<DateTime<Utc>>,
}

/// Everything one issue writes, all or nothing: the month marked issued (if still at
/// `seen_version`), the issued bill, the balance entries, the statement email.
#[derive(Debug, Clone)]
pub struct IssueWrite {
    pub month: MonthKey,
    pub seen_version: u64,
    pub bill: IssuedBill,
    pub settling: Vec<Settling>,
    pub statement: EmailIntent,
}

/// Issuing bills: the months due, their state and lines, the issue itself, issued bills.
#[async_trait]
pub trait BillStore: Send + Sync {
    /// One page of months with a bill not yet issued, before `before` (`YYYY-MM`), oldest
    /// month first; pass the returned cursor for the next page (`None`: this was the last).
    async fn due_months(
        &self,
        before: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<MonthKey>, Option<String>)>;
    /// The month's state, read consistently.
    async fn month_state(&self, month: &MonthKey) -> Result<MonthState>;
    /// The month's bill lines, read consistently.
    async fn month_lines(&self, month: &MonthKey) -> Result<Vec<StoredLine>>;
    /// Commits the issue; `Ok(false)` when the month moved or was issued meanwhile.
    async fn commit_issue(&self, write: &IssueWrite, now: DateTime<Utc>) -> Result<bool>;
    /// The bill as issued, if it is.
    async fn issued_bill(&self, billing_account: &str, month: &str) -> Result<Option<IssuedBill>>;
}

/// A cloud account's metering lease: the count of usage commits seen when it was taken, and
/// the keys of its reports fixed but not yet settled (taken or fallen back).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterLease {
    pub seen: u64,
    pub open: Vec<String>,
}

/// How a run leaves a cloud account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfterRun {
    /// Nothing was left to report.
    pub settled: bool,
    /// Its lines hold usage in no report (a carried fraction, deferred usage).
    pub carrying: bool,
    /// Reports are fixed and not yet taken nor fallen back.
    pub open_left: bool,
}

/// Metering state: which cloud accounts have usage to report, their reports, their lines.
#[async_trait]
pub trait MeteringStore: Send + Sync {
    /// Cloud accounts with usage not yet in a report, or reports not yet settled.
    async fn due_accounts(&self) -> Result<Vec<String>>;
    /// Cloud accounts whose lines hold usage in no report (carried fractions included), due
    /// or not: the reconciliation shows them all.
    async fn carrying_accounts(&self) -> Result<Vec<String>>;
    /// Takes the account's metering lease (one run at a time per account); `None` while
    /// another run holds it.
    async fn lease(&self, cloud_account_id: &str, now: DateTime<Utc>) -> Result<Option<MeterLease>>;
    /// Gives the lease back, the account listed as `after` says: off the due list when settled
    /// (unless usage came after `seen`), on the retry runs' list while reports are open, on the
    /// reconciliation's while its lines carry usage in no report.
    async fn release(&self, cloud_account_id: &str, seen: u64, after: AfterRun) -> Result<()>;
    /// Cloud accounts with reports fixed and not yet settled (the retry runs').
    async fn open_accounts(&self) -> Result<Vec<String>>;
    /// The reports the lease names as open that are still fixed, oldest first.
    async fn open_reports(&self, cloud_account_id: &str, open: &[String]) -> Result<Vec<MeterReport>>;
    /// The account's newest report, whatever its status (KooGallery's carried fraction).
    async fn last_report(&self, cloud_account_id: &str) -> Result<Option<MeterReport>>;
    /// The account's cloud lines, read consistently.
    async fn meter_lines(&self, cloud_account_id: &str) -> Result<Vec<MeterLine>>;
    /// Writes reports once per (cloud account, item, time), each with its usage covered on its
    /// lines and listed as open on the account, all together where they fit; for each, the one
    /// stored (the same, or one fixed before under its key).
    async fn fix_reports(&self, reports: &[MeterReport]) -> Result<Vec<MeterReport>>;
    /// Finishes covering a report's usage on its lines, for a report too large to be covered as
    /// it was fixed (once per report and line; a no-op for the others).
    async fn cover(&self, report: &MeterReport) -> Result<()>;
    /// The marketplace took these reports: their lines count them as reported, once; they are
    /// no longer open.
    async fn mark_reported(&self, reports: &[MeterReport]) -> Result<()>;
    /// The report's usage falls back to enterprise, with `reason` (once per report and line);
    /// it is no longer open.
    async fn fall_back(&self, report: &MeterReport, reason: FallbackReason, parts: &[FallbackPart]) -> Result<()>;
    /// Takes a settled report off the account's open list (it was settled by a run that died
    /// before doing so).
    async fn forget_open(&self, report: &MeterReport) -> Result<()>;
    /// Every report of one cloud account, oldest first.
    async fn reports_of(&self, cloud_account_id: &str) -> Result<Vec<MeterReport>>;
    /// Reports stamped in `[from, to)`, of every cloud account.
    async fn reports_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<MeterReport>>;
}

/// One record for a marketplace: the report and the subscription it is for. Each adapter names
/// the item as its marketplace does (an AWS dimension, an Alibaba metering item).
#[derive(Debug, Clone)]
pub struct MeterRecord<'a> {
    pub report: &'a MeterReport,
    pub account: &'a CloudAccount,
}

/// Why an order's buyer could not be learnt.
#[derive(Debug, thiserror::Error)]
#[error("order query failed: {0}")]
pub struct OrderQueryError(pub String);

/// A marketplace's order query (KooGallery "Querying an Order"): who bought an order line.
#[async_trait]
pub trait OrderQuery: Send + Sync {
    /// The buyer's account id; `None` when the marketplace knows no such order.
    async fn buyer(&self, order: &crate::model::MarketOrder) -> std::result::Result<Option<String>, OrderQueryError>;
}

/// A marketplace's usage reporting: AWS `BatchMeterUsage`, Alibaba Cloud's metering push,
/// KooGallery's usage push.
#[async_trait]
pub trait MarketMeter: Send + Sync {
    /// Sends records of one platform; one outcome per record, in order.
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome>;
}

/// The keys that sign and verify session tokens, read at run time (a secret) and cached.
#[async_trait]
pub trait TokenKeyring: Send + Sync {
    /// The keys in force.
    async fn keys(&self) -> Result<std::sync::Arc<crate::crypto::token::TokenKeys>>;
    /// The keys read again (a token named a key these do not hold), at most so often: a
    /// stream of forged key ids must not turn into a stream of reads.
    async fn reload(&self) -> Result<std::sync::Arc<crate::crypto::token::TokenKeys>>;
}
