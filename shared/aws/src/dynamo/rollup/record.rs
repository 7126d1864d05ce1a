//! A record of the table's stream as a change of a group: what the rollup function reads from
//! the event Lambda delivers and what a redrive reads back from the stream, one decoder for
//! both so that a change is folded the same way whichever path brings it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use thiserror::Error;

use scan_failures_domain::group::{GroupRecord, GroupState};

use super::plan::Change;
use crate::dynamo::item::{GroupItem, StateItem};
use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::GROUP_KEY_PREFIX;

type Image = HashMap<String, AttributeValue>;

/// Why a record of a group cannot be folded: it is poison, and stays so on every delivery.
#[derive(Debug, Error)]
pub enum UnreadableRecord {
    #[error("{event} record without an image: the stream must send NEW_AND_OLD_IMAGES")]
    NoImage { event: String },
    #[error("an image of the group cannot be decoded")]
    Image(#[source] serde_dynamo::Error),
}

fn group(image: Option<Image>) -> Result<Option<(GroupRecord, GroupState)>, UnreadableRecord> {
    let Some(item) = image.filter(|i| !i.is_empty()) else { return Ok(None) };
    let state = GroupState::of_item(&item);
    GroupRecord::from_item(item).map(|g| Some((g, state))).map_err(UnreadableRecord::Image)
}

/// The change of a group that record `id` (an `INSERT`, `MODIFY` or `REMOVE`, `event`) of item
/// `keys` reports, with its images (an empty image is none); `None` when the item is not a
/// group (markers, settings, the outbox, the rollups themselves: nothing to fold).
pub fn change(
    id: &str,
    event: &str,
    keys: &Image,
    old: Option<Image>,
    new: Option<Image>,
) -> Result<Option<Change>, UnreadableRecord> {
    let is_group = keys.get(PARTITION_KEY).and_then(|k| k.as_s().ok()).is_some_and(|k| k.starts_with(GROUP_KEY_PREFIX));
    if !is_group {
        return Ok(None);
    }
    let (old, new) = (group(old)?, group(new)?);
    if old.is_none() && new.is_none() {
        return Err(UnreadableRecord::NoImage { event: event.to_owned() });
    }
    Ok(Some(Change { id: id.to_owned(), old, new }))
}
