//! Poison batches: when a batch fails for a reason no retry can fix (a fact the store refuses), the source must not
//! block its partition or queue forever, nor drop the good messages with the bad one. [`isolate`] splits the batch
//! in halves until every message either went in with others or failed alone; those are dead-lettered.

use std::future::Future;
use std::ops::Range;

/// Why a handler could not take a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Worth retrying as it is: the store is unreachable, busy or timed out.
    #[error("{0}")]
    Transient(String),
    /// Retrying the same items cannot help: something in them is refused.
    #[error("{0}")]
    Permanent(String),
}

/// Applies the messages `0..messages` through `apply`, which takes a range of them, retries transient failures
/// itself, and answers `Ok(Err(reason))` when the range was refused for good (nothing of it taken) or `Err` to stop
/// (shutdown, a lost connection). A refused range is split in halves, in order, until each refused message is
/// alone; returns those, with the reason each one failed with. A batch with one bad message among `n` costs about
/// `2 log2 n` more applies.
pub async fn isolate<F, Fut, E>(messages: usize, mut apply: F) -> Result<Vec<(usize, String)>, E>
where
    F: FnMut(Range<usize>) -> Fut,
    Fut: Future<Output = Result<Result<(), String>, E>>,
{
    let mut refused = Vec::new();
    // A stack of ranges still to apply, the next one on top: the messages go in in their original order.
    let mut pending = Vec::new();
    if messages > 0 {
        pending.push(0..messages);
    }
    while let Some(range) = pending.pop() {
        match apply(range.clone()).await? {
            Ok(()) => {}
            Err(reason) if range.len() == 1 => refused.push((range.start, reason)),
            Err(_) => {
                let middle = range.start + range.len() / 2;
                pending.push(middle..range.end);
                pending.push(range.start..middle);
            }
        }
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Applies ranges of `0..n`, refusing any that holds one of `bad`; records what was taken and each call.
    async fn run(n: usize, bad: &[usize]) -> (Vec<(usize, String)>, Vec<usize>, usize) {
        let taken = RefCell::new(Vec::new());
        let calls = RefCell::new(0);
        let refused = isolate(n, |range: Range<usize>| {
            *calls.borrow_mut() += 1;
            let outcome = match range.clone().find(|i| bad.contains(i)) {
                Some(i) => Err(format!("message {i} is refused")),
                None => {
                    taken.borrow_mut().extend(range);
                    Ok(())
                }
            };
            async move { Ok::<_, ()>(outcome) }
        })
        .await
        .unwrap();
        (refused, taken.into_inner(), calls.into_inner())
    }

    #[tokio::test]
    async fn the_refused_messages_are_found_and_the_rest_go_in_in_order() {
        let (refused, taken, calls) = run(500, &[7, 300]).await;
        assert_eq!(refused, vec![(7, "message 7 is refused".to_string()), (300, "message 300 is refused".to_string())]);
        let expected: Vec<usize> = (0..500).filter(|i| *i != 7 && *i != 300).collect();
        assert_eq!(taken, expected, "every other message once, in order");
        assert!(calls <= 1 + 2 * 2 * 9, "two bad of 500 in {calls} applies");
    }

    #[tokio::test]
    async fn a_good_batch_is_one_apply_and_a_lone_bad_message_is_found() {
        assert_eq!(run(50, &[]).await.2, 1);
        let (refused, taken, calls) = run(1, &[0]).await;
        assert_eq!((refused.len(), taken.len(), calls), (1, 0, 1));
        assert_eq!(run(0, &[]).await.2, 0, "nothing to apply, no call");
    }

    #[tokio::test]
    async fn stopping_ends_at_once() {
        let mut calls = 0;
        let stopped = isolate(10, |_| {
            calls += 1;
            async { Err::<Result<(), String>, _>("shutdown") }
        })
        .await;
        assert_eq!((stopped, calls), (Err("shutdown"), 1));
    }
}
