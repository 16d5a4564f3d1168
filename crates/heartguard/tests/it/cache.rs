//! The Redis cache: values, expiry and counters under the installation's key prefix.

use std::time::Duration;

use hg_platform::cache::{Cache, RedisCache};
use hg_test_support::services::TestRedis;

#[tokio::test]
async fn redis_cache_keeps_values_counts_and_expires_under_its_prefix() {
    let ns = TestRedis::new();
    let cache = RedisCache::new(ns.config());
    cache
        .set("session:1", b"alice", Some(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(
        cache.get("session:1").await.unwrap(),
        Some(b"alice".to_vec())
    );
    assert_eq!(
        cache
            .incr("rate:ip", Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        cache
            .incr("rate:ip", Duration::from_secs(60))
            .await
            .unwrap(),
        2
    );
    let mut keys = ns.keys();
    keys.sort();
    assert_eq!(keys, ["rate:ip", "session:1"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get("session:1").await.unwrap(), None);
    cache.delete("rate:ip").await.unwrap();
    assert!(ns.keys().is_empty());
}
