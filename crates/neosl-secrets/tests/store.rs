//! The Secrets service on both backends: values handed only to allowed services and audited;
//! a sealed row copied to another owner or name does not open; a master key rotation re-wraps
//! every row while both keys are held, concurrently on two replicas, without changing a value.

use std::sync::Arc;

use neosl_api::secrets::UseRequest;
use neosl_runtime::clock::{ManualClock, SharedClock};
use neosl_runtime::db::Database;
use neosl_secrets::store::Store;
use neosl_secrets::vault::{Keyring, Master};
use neosl_secrets::{Secrets, SecretsError};
use neosl_testkit::{TestDatabase, on_both_backends};
use zeroize::Zeroizing;

async fn secrets(db: &TestDatabase, keys: Keyring) -> Secrets {
    let database = Database::connect(&db.url()).await.expect("connect");
    let clock: SharedClock = ManualClock::at(1_000);
    Secrets::new(
        Store::open(database).await.expect("migrate"),
        keys,
        clock,
        vec!["confidential".into(), "vrf".into()],
    )
}

fn keys(current: u8, previous: Option<u8>) -> Keyring {
    Keyring::new(
        Master::new(&[current; 32]).expect("key"),
        previous.map(|p| Master::new(&[p; 32]).expect("key")),
    )
}

fn value(text: &str) -> Zeroizing<String> {
    Zeroizing::new(text.to_owned())
}

fn use_of(owner: &str, names: &[&str]) -> UseRequest {
    UseRequest {
        owner: owner.into(),
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        purpose: "job-1".into(),
    }
}

async fn only_allowed_services_get_values_and_every_use_is_audited(db: &TestDatabase) {
    let s = secrets(db, keys(1, None)).await;
    s.put(
        "alice",
        "api",
        &value("alpha-value"),
        &["confidential".into()],
    )
    .await
    .expect("put");
    s.put("alice", "other", &value("beta-value"), &[])
        .await
        .expect("put");
    let answer = s
        .use_secrets("confidential", &use_of("alice", &["api"]))
        .await
        .expect("allowed");
    assert_eq!(answer.secrets[0].value.as_str(), "alpha-value");
    assert!(!format!("{answer:?}").contains("alpha"), "never printed");
    // Not allowed, all or nothing: nothing is handed out.
    assert!(matches!(
        s.use_secrets("confidential", &use_of("alice", &["api", "other"]))
            .await,
        Err(SecretsError::ServiceNotAllowed { .. })
    ));
    assert!(matches!(
        s.use_secrets("vrf", &use_of("alice", &["api"])).await,
        Err(SecretsError::ServiceNotAllowed { .. })
    ));
    assert_eq!(
        s.use_secrets("gateway", &use_of("alice", &["api"]))
            .await
            .err(),
        Some(SecretsError::Forbidden)
    );
    assert!(matches!(
        s.use_secrets("confidential", &use_of("bob", &["api"]))
            .await,
        Err(SecretsError::NotFound(_))
    ));
    let audit = s.audit("alice", None, 100).await.expect("audit");
    let uses: Vec<(&str, &str, &str)> = audit
        .iter()
        .filter(|e| e.action == "use")
        .map(|e| (e.name.as_str(), e.actor.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(uses.len(), 4, "{uses:?}");
    assert!(uses.contains(&("api", "confidential", "ok")));
    assert!(uses.contains(&("other", "confidential", "service_not_allowed")));
    assert!(uses.contains(&("api", "vrf", "service_not_allowed")));
    // Bob's log has his own (refused) attempt, nothing of alice's.
    let bobs = s.audit("bob", None, 10).await.expect("audit");
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].outcome, "secret_not_found");
    // A rewrite bumps the version; a delete is audited and the name is gone.
    let info = s
        .put("alice", "api", &value("alpha-2"), &["confidential".into()])
        .await
        .expect("rewrite");
    assert_eq!(info.version, 2);
    s.delete("alice", "other").await.expect("delete");
    assert!(matches!(
        s.info("alice", "other").await,
        Err(SecretsError::NotFound(_))
    ));
}

async fn a_row_copied_to_another_owner_or_name_does_not_open(db: &TestDatabase) {
    let s = secrets(db, keys(1, None)).await;
    s.put(
        "alice",
        "api",
        &value("alpha-value"),
        &["confidential".into()],
    )
    .await
    .expect("put");
    for (owner, name) in [("bob", "api"), ("alice", "api2")] {
        s.put(owner, name, &value("placeholder"), &["confidential".into()])
            .await
            .expect("put");
        sqlx::query(
            "UPDATE secrets_values SET ciphertext = (SELECT ciphertext FROM secrets_values WHERE owner = 'alice' AND name = 'api'), \
             wrapped_key = (SELECT wrapped_key FROM secrets_values WHERE owner = 'alice' AND name = 'api') WHERE owner = $1 AND name = $2",
        )
        .bind(owner)
        .bind(name)
        .execute(s.store().database().pool())
        .await
        .expect("copy the sealed row");
        assert_eq!(
            s.use_secrets("confidential", &use_of(owner, &[name]))
                .await
                .err(),
            Some(SecretsError::Unreadable(name.to_owned())),
            "{owner}/{name}"
        );
    }
    // The original still opens.
    assert_eq!(
        s.use_secrets("confidential", &use_of("alice", &["api"]))
            .await
            .expect("opens")
            .secrets[0]
            .value
            .as_str(),
        "alpha-value"
    );
}

async fn rotation_rewraps_every_row_once_on_two_replicas(db: &TestDatabase) {
    let old = secrets(db, keys(1, None)).await;
    for i in 0..120 {
        old.put(
            &format!("user{}", i % 7),
            &format!("s{i}"),
            &value(&format!("value-{i}")),
            &["confidential".into()],
        )
        .await
        .expect("put");
    }
    let a = Arc::new(secrets(db, keys(2, Some(1))).await);
    let b = Arc::new(secrets(db, keys(2, Some(1))).await);
    // Both keys held: old rows open during the rotation.
    assert_eq!(
        a.use_secrets("confidential", &use_of("user0", &["s0"]))
            .await
            .expect("old row")
            .secrets[0]
            .value
            .as_str(),
        "value-0"
    );
    let mut total = 0;
    loop {
        let (ra, rb) = tokio::join!(a.rewrap_round(25), b.rewrap_round(25));
        let (na, _) = ra.expect("a");
        let (nb, _) = rb.expect("b");
        if na + nb == 0 {
            break;
        }
        total += na + nb;
    }
    assert_eq!(total, 120, "each row re-wrapped exactly once");
    assert_eq!(
        a.store().masters().await.expect("masters"),
        vec![(a.keys().current_id().to_owned(), 120)]
    );
    // Without the old key, every value is still there.
    let after = secrets(db, keys(2, None)).await;
    for i in [0, 57, 119] {
        let answer = after
            .use_secrets(
                "confidential",
                &use_of(&format!("user{}", i % 7), &[&format!("s{i}")]),
            )
            .await
            .expect("opens under the new key");
        assert_eq!(answer.secrets[0].value.as_str(), format!("value-{i}"));
    }
    // A replica that still holds only the old key cannot read them.
    let stale = secrets(db, keys(1, None)).await;
    assert!(matches!(
        stale
            .use_secrets("confidential", &use_of("user0", &["s0"]))
            .await,
        Err(SecretsError::Unreadable(_))
    ));
}

async fn names_values_and_the_owner_cap_are_checked(db: &TestDatabase) {
    let s = secrets(db, keys(1, None)).await;
    for name in ["", "1abc", "a b", "audit", &"x".repeat(65)] {
        assert_eq!(
            s.put("alice", name, &value("v"), &[]).await.err(),
            Some(SecretsError::InvalidName),
            "{name:?}"
        );
    }
    assert!(matches!(
        s.put("alice", "big", &value(&"v".repeat(16 * 1024 + 1)), &[])
            .await,
        Err(SecretsError::InvalidValue(_))
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let s = Arc::new(s);
    for i in 0..110 {
        let s = s.clone();
        tasks.spawn(async move { s.put("carol", &format!("n{i}"), &value("v"), &[]).await });
    }
    let mut refused = 0;
    while let Some(done) = tasks.join_next().await {
        if let Err(SecretsError::SecretLimit(_)) = done.expect("task") {
            refused += 1;
        }
    }
    assert_eq!(refused, 10, "the cap holds under concurrent writes");
    assert_eq!(s.list("carol").await.expect("list").len(), 100);
}

on_both_backends!(
    only_allowed_services_get_values_and_every_use_is_audited,
    a_row_copied_to_another_owner_or_name_does_not_open,
    rotation_rewraps_every_row_once_on_two_replicas,
    names_values_and_the_owner_cap_are_checked,
);
