//! The order an SQS batch's groups are written in. Writes stop near the invocation's deadline
//! and the groups left are deferred: their messages are reported failed and delivered again, one
//! receive closer to the dead-letter queue. So the groups whose messages SQS has delivered most
//! often go first, then the order of arrival. (In the order of the group ids, the batch written
//! before, the groups with the highest ids were the ones deferred at every delivery, until their
//! messages reached the dead-letter queue without a write ever tried.)

use std::cmp::Reverse;

/// The keys of `groups` (each with the indices of its messages) in the order to write them;
/// `receives[i]` is how many times SQS has delivered message `i` (its `ApproximateReceiveCount`;
/// 1 when unknown).
pub fn write_order<K: Copy>(groups: &[(K, Vec<usize>)], receives: &[u32]) -> Vec<K> {
    let mut order: Vec<(Reverse<u32>, usize, K)> = groups
        .iter()
        .map(|(key, members)| {
            let most = members.iter().map(|i| receives.get(*i).copied().unwrap_or(1)).max().unwrap_or(1);
            let first = members.iter().copied().min().unwrap_or(usize::MAX);
            (Reverse(most), first, *key)
        })
        .collect();
    order.sort_by_key(|(most, first, _)| (*most, *first));
    order.into_iter().map(|(_, _, key)| key).collect()
}

/// A message's `ApproximateReceiveCount` attribute: 1 when absent or not a number.
pub fn receives(count: Option<&str>) -> u32 {
    count.and_then(|c| c.trim().parse().ok()).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_delivered_most_often_go_first_then_the_order_of_arrival() {
        // Messages 0..5; group "z" (message 4) has been delivered 4 times, "m" (1 and 3) twice.
        let groups = [("a", vec![2]), ("m", vec![1, 3]), ("q", vec![0]), ("z", vec![4])];
        let receives = [1, 1, 1, 2, 4];
        assert_eq!(write_order(&groups, &receives), ["z", "m", "q", "a"]);
        // A first delivery of every message: the order they came in, not the keys'.
        assert_eq!(write_order(&groups, &[1; 5]), ["q", "m", "a", "z"]);
        // A count missing for a message counts as one delivery.
        assert_eq!(write_order(&groups, &[]), ["q", "m", "a", "z"]);
    }

    #[test]
    fn a_receive_count_is_read_or_taken_as_one() {
        assert_eq!(
            [Some("3"), Some(" 12 "), Some("0"), Some("x"), Some("-1"), None].map(receives),
            [3, 12, 1, 1, 1, 1]
        );
    }
}
