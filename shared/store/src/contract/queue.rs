//! Checks of [`Queue`]: visibility, receive counts, redrive to the
//! dead-letter queue and replay, batches, delays, and racing receivers.

use std::sync::Arc;
use std::time::Duration;

use super::harness::{Delivery, Harness, R};
use crate::error::StoreError;
use crate::ports::*;

/// Receives until `want` distinct messages arrived or the queue keeps
/// answering empty. A message handed out again (at-least-once delivery) is
/// received once here; the checks that count copies receive themselves.
async fn receive_n(q: &dyn Queue, want: usize, visibility: Duration) -> Result<Vec<ReceivedMessage>, StoreError> {
    let mut out: Vec<ReceivedMessage> = Vec::new();
    let mut empty = 0;
    while out.len() < want && empty < 3 {
        let got = q.receive(want - out.len(), visibility).await?;
        if got.is_empty() {
            empty += 1;
        } else {
            empty = 0;
        }
        for message in got {
            if !out.iter().any(|m| m.id == message.id) {
                out.push(message);
            }
        }
    }
    Ok(out)
}

pub(super) const LONG: Duration = Duration::from_secs(300);

pub async fn a_received_message_is_hidden_until_deleted(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let ids = q.send_batch(&[OutgoingMessage::new(r#"{"n":1}"#), OutgoingMessage::new(r#"{"n":2}"#)]).await?;
    assert_eq!(ids.len(), 2);
    let got = receive_n(q.as_ref(), 2, LONG).await?;
    let mut bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, [r#"{"n":1}"#, r#"{"n":2}"#]);
    assert!(got.iter().all(|m| m.receive_count == 1));
    assert!(got.iter().all(|m| ids.contains(&m.id)), "ids match those returned by send");
    assert!(q.receive(10, LONG).await?.is_empty(), "in-flight messages are hidden");
    let depth = q.depth().await?;
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 2, 0));
    q.delete(&got[0].receipt_handle).await?;
    q.delete_batch(&[got[1].receipt_handle.clone()]).await?;
    assert_eq!(q.depth().await?, QueueDepth::default());
    Ok(())
}

pub async fn an_unacknowledged_message_comes_back_with_a_higher_receive_count(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings { max_receive_count: 5 }).await?;
    q.send_batch(&[OutgoingMessage::new("retry me")]).await?;
    let first = receive_n(q.as_ref(), 1, Duration::from_secs(1)).await?;
    assert_eq!(first.len(), 1);
    h.let_queue_time_pass(Duration::from_secs(3)).await;
    let second = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(second.len(), 1, "message is visible again after its timeout");
    assert_eq!((second[0].id.as_str(), second[0].receive_count), (first[0].id.as_str(), 2));
    q.delete(&second[0].receipt_handle).await?;
    h.let_queue_time_pass(Duration::from_secs(2)).await;
    assert!(q.receive(10, LONG).await?.is_empty(), "deleted for good");
    Ok(())
}

pub async fn a_visibility_change_to_zero_makes_a_message_receivable_again(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    q.send_batch(&[OutgoingMessage::new("backoff")]).await?;
    let got = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(got.len(), 1);
    q.change_visibility(&got[0].receipt_handle, Duration::ZERO).await?;
    let again = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    q.change_visibility(&again[0].receipt_handle, Duration::from_secs(600)).await?;
    assert!(q.receive(10, LONG).await?.is_empty(), "backed off");
    Ok(())
}

pub async fn a_message_received_too_often_moves_to_dead_letters_and_can_be_replayed(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings { max_receive_count: 2 }).await?;
    q.send_batch(&[OutgoingMessage::new("poison")]).await?;
    for attempt in 1..=2u32 {
        let got = receive_n(q.as_ref(), 1, LONG).await?;
        assert_eq!(got.len(), 1, "attempt {attempt} delivered");
        assert_eq!(got[0].receive_count, attempt);
        q.change_visibility(&got[0].receipt_handle, Duration::ZERO).await?;
    }
    assert!(receive_n(q.as_ref(), 1, LONG).await?.is_empty(), "third receive redrives instead");
    let dead = q.list_dead_letters(10).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    assert_eq!(q.depth().await?.dead, 1);
    assert_eq!(q.list_dead_letters(10).await?.len(), 1, "listing does not remove");
    assert_eq!(q.replay_dead_letters(10).await?, 1);
    let back = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(back.len(), 1, "replayed message is delivered");
    assert_eq!((back[0].body.as_str(), back[0].receive_count), ("poison", 1));
    let depth = q.depth().await?;
    assert_eq!((depth.dead, depth.visible), (0, 0));
    Ok(())
}

pub async fn dead_letters_replayed_by_id_move_alone(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings { max_receive_count: 1 }).await?;
    q.send_batch(&[OutgoingMessage::new("first"), OutgoingMessage::new("second")]).await?;
    for got in receive_n(q.as_ref(), 2, LONG).await? {
        q.change_visibility(&got.receipt_handle, Duration::ZERO).await?;
    }
    assert!(receive_n(q.as_ref(), 1, LONG).await?.is_empty(), "both redriven");
    let dead = q.list_dead_letters(10).await?;
    assert_eq!(dead.len(), 2);
    let second = dead.iter().find(|m| m.body == "second").map(|m| m.id.clone()).unwrap_or_default();
    assert_eq!(q.replay_dead_letters_by_id(&[second, "not-a-dead-letter".to_owned()]).await?, 1);
    let back = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(back.len(), 1, "the named message is back");
    assert_eq!((back[0].body.as_str(), back[0].receive_count), ("second", 1));
    let left = q.list_dead_letters(10).await?;
    assert_eq!(left.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["first"], "the other stays dead");
    Ok(())
}

pub async fn a_large_batch_is_sent_and_received_whole(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let msgs: Vec<OutgoingMessage> = (0..57).map(|i| OutgoingMessage::new(format!("{{\"i\":{i}}}"))).collect();
    let ids = q.send_batch(&msgs).await?;
    assert_eq!(ids.len(), 57);
    let got = receive_n(q.as_ref(), 57, LONG).await?;
    let mut bodies: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 57, "every message once");
    let receipts: Vec<String> = got.iter().map(|m| m.receipt_handle.clone()).collect();
    q.delete_batch(&receipts).await?;
    assert_eq!(q.depth().await?, QueueDepth::default());
    Ok(())
}

pub async fn a_delayed_message_is_not_received_before_its_delay(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let delayed = OutgoingMessage { body: "later".into(), delay: Some(Duration::from_secs(2)) };
    q.send_batch(&[delayed, OutgoingMessage::new("now")]).await?;
    let first = receive_n(q.as_ref(), 2, LONG).await?;
    let bodies: Vec<&str> = first.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["now"]);
    h.let_queue_time_pass(Duration::from_secs(4)).await;
    let later = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].body, "later");
    Ok(())
}

/// Four receivers race over 40 messages. Every message reaches one of them;
/// a queue that promises exactly-once delivery hands none out twice, while
/// an at-least-once queue (SQS) may, and the sync is built for that.
pub async fn concurrent_receivers_get_every_message(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let msgs: Vec<OutgoingMessage> = (0..40).map(|i| OutgoingMessage::new(format!("m{i}"))).collect();
    q.send_batch(&msgs).await?;
    let receivers = (0..4).map(|_| {
        let q = Arc::clone(&q);
        async move {
            let mut got = Vec::new();
            for _ in 0..20 {
                got.extend(q.receive(5, LONG).await?);
            }
            Ok::<_, StoreError>(got)
        }
    });
    let mut bodies = Vec::new();
    for r in futures::future::join_all(receivers).await {
        bodies.extend(r?.into_iter().map(|m| m.body));
    }
    let total = bodies.len();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 40, "every message handed out ({total} receives)");
    if h.delivery() == Delivery::ExactlyOnce {
        assert_eq!(total, 40, "no message handed to two receivers");
    }
    Ok(())
}
