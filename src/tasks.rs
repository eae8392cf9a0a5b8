//! Work run as tasks with a bound on how many run at once (`scan`'s targets, a suite's
//! cases), each result handed on as it finishes.

use std::future::Future;

/// Runs `work` as tasks, at most `concurrency` (at least 1) at once, handing each result to
/// `done` as it finishes, with the position of its item in `work` (the result is an `Err`
/// when the task panicked: the position still says which item it was). Stops at the first
/// error `done` returns; the tasks still running are then aborted.
pub async fn bounded<F, T, E>(
    work: impl IntoIterator<Item = F>,
    concurrency: usize,
    mut done: impl FnMut(usize, Result<T, tokio::task::JoinError>) -> Result<(), E>,
) -> Result<(), E>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut pending = work.into_iter().enumerate();
    let mut running = tokio::task::JoinSet::new();
    let mut positions = std::collections::HashMap::new();
    loop {
        while running.len() < concurrency.max(1) {
            let Some((position, task)) = pending.next() else {
                break;
            };
            positions.insert(running.spawn(task).id(), position);
        }
        let (id, result) = match running.join_next_with_id().await {
            None => return Ok(()),
            Some(Ok((id, output))) => (id, Ok(output)),
            Some(Err(error)) => (error.id(), Err(error)),
        };
        let position = positions
            .remove(&id)
            .expect("every task spawned here has a position");
        done(position, result)?;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn never_more_than_the_bound_at_once_and_every_result_handed_on() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let work = (0..50).map(|i| {
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        });
        let mut seen = Vec::new();
        super::bounded(work, 4, |position, r| {
            let value = r.expect("no panic");
            assert_eq!(position, value);
            seen.push(value);
            Ok::<(), ()>(())
        })
        .await
        .expect("runs");
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 4);
    }

    #[tokio::test]
    async fn a_task_that_panics_is_named_by_its_position() {
        let work = (0..5).map(|i| async move {
            assert!(i != 3, "task 3 panics");
            i
        });
        let mut panicked = Vec::new();
        super::bounded(work, 2, |position, r| {
            if r.is_err() {
                panicked.push(position);
            }
            Ok::<(), ()>(())
        })
        .await
        .expect("runs");
        assert_eq!(panicked, [3]);
    }
}
