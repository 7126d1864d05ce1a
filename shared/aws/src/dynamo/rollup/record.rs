//! A record of the table's stream as a change of a group: what the rollup function reads from
//! the event Lambda delivers and what a redrive reads back from the stream, one decoder for
//! both so that a change is folded the same way whichever path brings it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use thiserror::Error;

use scan_failures_domain::group::{GroupRecord, GroupState};
use scan_failures_domain::rollup::generation::Membership;

use super::plan::{Change, Image as GroupImage};
use crate::dynamo::item::{attr, GroupItem, StateItem};
use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::GROUP_KEY_PREFIX;

type Image = HashMap<String, AttributeValue>;

/// Why a record of a group cannot be folded: it is poison, and stays so on every delivery.
#[derive(Debug, Error)]
pub enum UnreadableRecord {
    #[error("{event} record without its {missing} image: the stream must send NEW_AND_OLD_IMAGES")]
    NoImage { event: String, missing: &'static str },
    #[error("{event} record with its {extra} image, which that kind of change has none of")]
    ExtraImage { event: String, extra: &'static str },
    #[error("record of unknown kind {event:?}: INSERT, MODIFY or REMOVE")]
    Kind { event: String },
    #[error("record without an event id: its marker would be every such record's")]
    NoEventId,
    #[error("an image of the group cannot be decoded")]
    Image(#[source] serde_dynamo::Error),
    #[error("an attribute of the record is of a type this build does not know: deploy a newer one")]
    UnknownType,
}

/// What an image says of the generations holding it. Read leniently: a mark or a time that
/// does not parse is none (the group is then held by generation 0 only, until marked again).
pub fn membership(item: &Image) -> Membership {
    let mark = item.get(attr::MARK).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
    let stored_at = item
        .get(attr::BORN)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok());
    Membership { mark, stored_at }
}

fn group(image: Option<Image>) -> Result<Option<GroupImage>, UnreadableRecord> {
    let Some(item) = image.filter(|i| !i.is_empty()) else { return Ok(None) };
    let (state, member) = (GroupState::of_item(&item), membership(&item));
    GroupRecord::from_item(item).map(|g| Some((g, state, member))).map_err(UnreadableRecord::Image)
}

/// Whether `keys` are a group's.
pub fn is_group(keys: &Image) -> bool {
    keys.get(PARTITION_KEY).and_then(|k| k.as_s().ok()).is_some_and(|k| k.starts_with(GROUP_KEY_PREFIX))
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
    if !is_group(keys) {
        return Ok(None);
    }
    if id.is_empty() {
        return Err(UnreadableRecord::NoEventId);
    }
    let (old, new) = (group(old)?, group(new)?);
    let (needs_old, needs_new) = match event {
        "INSERT" => (false, true),
        "MODIFY" => (true, true),
        "REMOVE" => (true, false),
        _ => return Err(UnreadableRecord::Kind { event: scan_failures_domain::text::prefix(event, 32).to_owned() }),
    };
    // A change folds as "minus the old image, plus the new": a missing image would fold a
    // MODIFY as an INSERT (counted twice), an extra one would add what is gone.
    for (needed, present, which) in [(needs_old, old.is_some(), "old"), (needs_new, new.is_some(), "new")] {
        match (needed, present) {
            (true, false) => return Err(UnreadableRecord::NoImage { event: event.to_owned(), missing: which }),
            (false, true) => return Err(UnreadableRecord::ExtraImage { event: event.to_owned(), extra: which }),
            _ => {}
        }
    }
    Ok(Some(Change { id: id.to_owned(), old, new }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Only "both images missing" was refused: a MODIFY without its old image was folded as an
    /// INSERT (the group counted twice), and records without an id shared one marker.
    #[test]
    fn a_record_is_folded_only_with_the_images_its_kind_has_and_an_id() {
        let keys: Image =
            HashMap::from([(PARTITION_KEY.to_owned(), AttributeValue::S(format!("{GROUP_KEY_PREFIX}x")))]);
        let group =
            super::super::test_group("g", "123456789012", "2026-12-04T10:00:00.000Z", "2026-12-04T11:00:00.000Z");
        let item = group.to_item().unwrap();
        let unreadable = |id: &str, event: &str, old: bool, new: bool| {
            let some = |on: bool| on.then(|| item.clone());
            change(id, event, &keys, some(old), some(new)).err().map(|e| e.to_string())
        };
        assert_eq!(
            unreadable("", "INSERT", false, true).as_deref(),
            Some("record without an event id: its marker would be every such record's")
        );
        assert_eq!(
            unreadable("1", "UPSERT", true, true).as_deref(),
            Some("record of unknown kind \"UPSERT\": INSERT, MODIFY or REMOVE")
        );
        assert_eq!(
            unreadable("1", "MODIFY", false, true).as_deref(),
            Some("MODIFY record without its old image: the stream must send NEW_AND_OLD_IMAGES")
        );
        assert_eq!(
            unreadable("1", "REMOVE", false, false).as_deref(),
            Some("REMOVE record without its old image: the stream must send NEW_AND_OLD_IMAGES")
        );
        assert_eq!(
            unreadable("1", "INSERT", true, true).as_deref(),
            Some("INSERT record with its old image, which that kind of change has none of")
        );
        assert_eq!(
            unreadable("1", "REMOVE", true, true).as_deref(),
            Some("REMOVE record with its new image, which that kind of change has none of")
        );
        for (event, old, new) in [("INSERT", false, true), ("MODIFY", true, true), ("REMOVE", true, false)] {
            assert_eq!(unreadable("1", event, old, new), None, "{event}");
        }
        assert_eq!(change("1", "MODIFY", &HashMap::new(), None, None).ok().flatten().map(|c| c.id), None);
    }

    #[test]
    fn an_image_says_its_mark_and_when_it_was_stored_and_anything_unreadable_is_none() {
        let image = |mark: AttributeValue, stored: AttributeValue| -> Image {
            HashMap::from([(attr::MARK.to_owned(), mark), (attr::BORN.to_owned(), stored)])
        };
        assert_eq!(
            membership(&image(AttributeValue::N("3".into()), AttributeValue::N("1796385600".into()))),
            Membership { mark: 3, stored_at: Some(datetime!(2026-12-04 12:00 UTC)) }
        );
        assert_eq!(membership(&Image::new()), Membership::default());
        for (mark, stored) in [
            (AttributeValue::N("-1".into()), AttributeValue::S("yesterday".into())),
            (AttributeValue::S("3".into()), AttributeValue::S("2026-12-04T12:00:00.000Z".into())),
            (AttributeValue::N("99999999999".into()), AttributeValue::N("9".repeat(40))),
        ] {
            assert_eq!(membership(&image(mark, stored)), Membership::default());
        }
    }
}
