//! Following every hub's commits: a connection of its own that `LISTEN`s
//! on `samplan_log`, where each round's transaction notifies its last
//! position. PostgreSQL delivers notifications at commit, in commit order,
//! so the durable position only moves forward. After a lost connection it
//! reconnects with a growing delay and first catches up from the head row.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

use super::{Tls, failed, head_position};
use crate::store::Error;

/// Follows commits into `durable` until the store is gone.
pub(super) fn spawn(config: tokio_postgres::Config, tls: Tls, durable: Arc<watch::Sender<u64>>) {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            match follow(&config, tls.clone(), &durable).await {
                Ok(()) => return,
                Err(error) => tracing::warn!(%error, "lost the PostgreSQL notifications; reconnecting"),
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = durable.closed() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    });
}

/// Advances the durable position to `position`, if that is further.
pub(super) fn advance(durable: &watch::Sender<u64>, position: u64) {
    durable.send_if_modified(|durable| {
        let further = position > *durable;
        *durable = (*durable).max(position);
        further
    });
}

/// Listens until the connection is lost (an error) or the store is gone.
async fn follow(config: &tokio_postgres::Config, tls: Tls, durable: &watch::Sender<u64>) -> Result<(), Error> {
    let (client, mut connection) = config.connect(tls).await.map_err(failed)?;
    let (positions, mut heard) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    let _ = positions.send(note.payload().parse::<u64>().ok());
                }
                Ok(_) => {}
                Err(error) => return error.to_string(),
            }
        }
        "the server closed the connection".to_owned()
    });
    client.batch_execute("LISTEN samplan_log").await.map_err(failed)?;
    // Commits made before the LISTEN took effect.
    advance(durable, head_position(&client).await?);
    loop {
        tokio::select! {
            position = heard.recv() => match position {
                Some(Some(position)) => advance(durable, position),
                Some(None) => {}
                None => break,
            },
            () = durable.closed() => return Ok(()),
        }
    }
    let cause = driver.await.unwrap_or_else(|_| "the listener stopped".to_owned());
    Err(Error::Storage(format!("PostgreSQL notifications: {cause}")))
}
