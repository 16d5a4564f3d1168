//! The cache contract (issue 11), run against both implementations — Redis and the in-process
//! cache of a single process: values and their expiry, batched reads, counters within a window,
//! admission (token bucket and blocks), and for Redis the installation's key prefix.

use std::time::Duration;

use hg_platform::cache::{Admission, Bucket, Cache, MemoryCache, RedisCache};
use hg_test_support::services::TestRedis;

async fn values_expire_and_are_read_in_batches(cache: &dyn Cache) {
    cache
        .set("session:1", b"alice", Some(Duration::from_millis(300)))
        .await
        .unwrap();
    cache.set("session:2", b"bob", None).await.unwrap();
    assert_eq!(
        cache.get("session:1").await.unwrap(),
        Some(b"alice".to_vec())
    );
    assert_eq!(
        cache
            .get_many(&["session:1", "nobody", "session:2"])
            .await
            .unwrap(),
        [Some(b"alice".to_vec()), None, Some(b"bob".to_vec())]
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(cache.get("session:1").await.unwrap(), None, "expired");
    assert_eq!(cache.get("session:2").await.unwrap(), Some(b"bob".to_vec()));
    cache.delete("session:2").await.unwrap();
    assert_eq!(cache.get("session:2").await.unwrap(), None);
}

async fn counters_count_within_their_window(cache: &dyn Cache) {
    let window = Duration::from_millis(400);
    assert_eq!(cache.incr("rate:ip", window).await.unwrap(), 1);
    assert_eq!(cache.incr("rate:ip", window).await.unwrap(), 2);
    assert_eq!(cache.incr("rate:ip", window).await.unwrap(), 3);
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(
        cache.incr("rate:ip", window).await.unwrap(),
        1,
        "a new window starts over"
    );
}

async fn admission_takes_tokens_then_limits_and_honours_blocks(cache: &dyn Cache) {
    let bucket = Some(Bucket {
        burst: 3,
        per_sec: 0.5,
    });
    for i in 0..3 {
        assert!(
            matches!(
                cache.admit("blk", "bkt", bucket).await.unwrap(),
                Admission::Allowed { .. }
            ),
            "request {i} of the burst"
        );
    }
    assert!(matches!(
        cache.admit("blk", "bkt", bucket).await.unwrap(),
        Admission::Limited { .. }
    ));
    // No bucket configured: allowed, whatever the bucket's state.
    assert!(matches!(
        cache.admit("blk", "bkt", None).await.unwrap(),
        Admission::Allowed { .. }
    ));
    cache
        .set("blk", b"1", Some(Duration::from_secs(30)))
        .await
        .unwrap();
    match cache.admit("blk", "bkt", bucket).await.unwrap() {
        Admission::Blocked { retry_after_secs } => {
            assert!((29..=30).contains(&retry_after_secs), "{retry_after_secs}")
        }
        other => panic!("a block answers Blocked, not {other:?}"),
    }
}

async fn contract(cache: &dyn Cache) {
    cache.ping().await.unwrap();
    values_expire_and_are_read_in_batches(cache).await;
    counters_count_within_their_window(cache).await;
    admission_takes_tokens_then_limits_and_honours_blocks(cache).await;
}

#[tokio::test]
async fn the_in_process_cache_keeps_the_contract() {
    let cache = MemoryCache::new();
    contract(&cache).await;
    assert_eq!(cache.kind(), "in-process");
}

#[tokio::test]
async fn redis_keeps_the_contract_under_its_prefix() {
    let ns = TestRedis::new();
    let cache = RedisCache::new(ns.config());
    contract(&cache).await;
    assert_eq!(cache.kind(), "redis");
    let mut keys = ns.keys();
    keys.sort();
    assert_eq!(
        keys,
        ["bkt", "blk", "rate:ip"],
        "every key is under the prefix"
    );
}
