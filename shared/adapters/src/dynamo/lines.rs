//! Bill lines and their due marks: what usage commits add to and metering reads, covers and
//! falls back from (keys in `keys.rs`).
//!
//! A line is the sum of its usage; summing a month is one query. A cloud line is also in its
//! cloud account's metering index, so an account's usage to report is one query there, and
//! every commit of cloud usage marks the account due for metering.

use super::tx::Tx;
use super::{dec, key, keys, n, num_attr, s, str_attr, DynamoStore, Item};
use aws_sdk_dynamodb::types::AttributeValue;
use billing_domain::model::Platform;
use billing_domain::money::Amount;
use billing_domain::rules::bill::StoredLine;
use billing_domain::rules::rating::{LineKey, LinePayer};
use billing_domain::{Error, Result};

/// The line's key, and for cloud lines its place in the cloud account's metering index.
pub(crate) fn line_keys(k: &LineKey) -> (Item, Option<(String, String)>) {
    (key(keys::bill(&k.billing_account, &k.month), &keys::line_sk(k)), keys::meter_line_index(k))
}

pub(crate) fn stored_line(item: Item) -> Result<StoredLine> {
    let payer: LinePayer =
        serde_dynamo::from_attribute_value(item.get("payer").cloned().unwrap_or(AttributeValue::Null(true)))
            .map_err(Error::internal)?;
    Ok(StoredLine {
        workspace_id: str_attr(&item, "workspace_id").unwrap_or_default(),
        workspace_name: str_attr(&item, "workspace_name").unwrap_or_default(),
        site: str_attr(&item, "site").unwrap_or_default(),
        item: str_attr(&item, "item").unwrap_or_default(),
        payer,
        quantity: num_attr(&item, "quantity"),
        reported: num_attr(&item, "reported"),
        fell_back: num_attr(&item, "fell_back"),
    })
}

/// A cloud account's metering mark: due, leased, its open reports.
pub(crate) fn due_key(cloud: &str) -> Item {
    key(keys::meter(cloud), keys::METER_DUE_SK)
}

/// The cloud accounts a usage commit makes due for metering.
pub(crate) fn due_update(tx: &mut Tx, table: &str, cloud: &str, platform: Platform) -> Result<()> {
    let platform = serde_dynamo::to_attribute_value(platform).map_err(Error::internal)?;
    tx.update_always(
        table,
        due_key(cloud),
        "SET gsi1pk = :due, gsi1sk = :id, platform = :p ADD seq :one",
        vec![],
        vec![(":due", s(keys::METER_DUE)), (":id", s(cloud)), (":p", platform), (":one", n(1))],
    )
}

impl DynamoStore {
    /// Adds `quantity` to a line, creating it with what describes it.
    pub(crate) fn add_to_line(
        &self,
        tx: &mut Tx,
        k: &LineKey,
        quantity: Amount,
        workspace_name: &str,
        site: &str,
    ) -> Result<()> {
        let (line_key, meter) = line_keys(k);
        let payer = serde_dynamo::to_attribute_value(&k.payer).map_err(Error::internal)?;
        let mut update = "SET workspace_id = :ws, workspace_name = if_not_exists(workspace_name, :wn), site = :site, \
                          #item = :item, payer = :payer, billing_account = :b, #month = :m"
            .to_string();
        let mut values = vec![
            (":ws", s(k.workspace_id.clone())),
            (":wn", s(workspace_name)),
            (":site", s(site)),
            (":item", s(k.item.clone())),
            (":payer", payer),
            (":b", s(k.billing_account.clone())),
            (":m", s(k.month.clone())),
            (":q", dec(quantity)),
        ];
        if let Some((g2, g2s)) = meter {
            update.push_str(", gsi2pk = :g2, gsi2sk = :g2s");
            values.push((":g2", s(g2)));
            values.push((":g2s", s(g2s)));
        }
        update.push_str(" ADD quantity :q");
        tx.update_always(self.table(), line_key, &update, vec![("#item", "item"), ("#month", "month")], values)
    }
}
