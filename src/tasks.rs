//! Work run as tasks with a bound on how many run at once (`scan`'s targets, a suite's
//! cases), each result handed on as it finishes.

use std::future::Future;

/// Runs `work` as tasks, at most `concurrency` (at least 1) at once, handing each result to
/// `done` as it finishes (an `Err` when the task panicked). Stops at the first error `done`
/// returns; the tasks still running are then aborted.
pub async fn bounded<F, T, E>(
    work: impl IntoIterator<Item = F>,
    concurrency: usize,
    mut done: impl FnMut(Result<T, tokio::task::JoinError>) -> Result<(), E>,
) -> Result<(), E>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut pending = work.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < concurrency.max(1) {
            let Some(task) = pending.next() else { break };
            running.spawn(task);
        }
        let Some(finished) = running.join_next().await else {
            return Ok(());
        };
        done(finished)?;
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
        super::bounded(work, 4, |r| {
            seen.push(r.expect("no panic"));
            Ok::<(), ()>(())
        })
        .await
        .expect("runs");
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 4);
    }
}
