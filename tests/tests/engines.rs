//! The PostgreSQL engine's own settings: the throwaway cluster the tests
//! start for themselves makes commits durable (`fsync` and
//! `synchronous_commit` on), the hub's schema migrations apply once, and
//! connections use TLS when a CA is configured. (The integration suite runs
//! on both engines; several hubs and failover have files of their own.)

use samplan_hub::embedded::EmbeddedHub;
use samplan_services::store::postgres::{MIGRATIONS, migrate};
use samplan_tests::postgres::{Postgres, USER, store_settings};

#[tokio::test]
async fn the_throwaway_postgres_is_durable() -> anyhow::Result<()> {
    let Some(postgres) = Postgres::start()? else { return Ok(()) };
    let (client, connection) =
        tokio_postgres::connect(&postgres.connection_string("postgres"), tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    for (setting, expected) in [("fsync", "on"), ("synchronous_commit", "on"), ("listen_addresses", "127.0.0.1")] {
        let row = client.query_one(&format!("SHOW {setting}"), &[]).await?;
        assert_eq!(row.get::<_, String>(0), expected, "{setting}");
    }
    let version: i32 = client.query_one("SELECT current_setting('server_version_num')::int", &[]).await?.get(0);
    assert!(version >= 130_000, "PostgreSQL 13 or newer, found {version}");
    drop(client);
    connection.await??;
    Ok(())
}

async fn connect(postgres: &Postgres) -> anyhow::Result<tokio_postgres::Client> {
    postgres.client("postgres").await
}

/// The hub's migrations create the schema once, however many hubs start at
/// once, leave an up-to-date schema alone, and refuse a newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_refuse_a_newer_schema() -> anyhow::Result<()> {
    let Some(postgres) = Postgres::start()? else { return Ok(()) };
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);

    // Three hubs starting together: one migrates, the others find it done.
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connect(&postgres).await?);
    }
    let starts = clients
        .into_iter()
        .map(|mut client| tokio::spawn(async move { migrate(&mut client).await.map(|m| (m, client)) }));
    let mut migrated = Vec::new();
    for start in starts.collect::<Vec<_>>() {
        migrated.push(start.await??);
    }
    let mut froms: Vec<i32> = migrated.iter().map(|(m, _)| m.from).collect();
    froms.sort_unstable();
    assert_eq!(froms, [0, newest, newest], "exactly one start migrated");
    assert!(migrated.iter().all(|(m, _)| m.to == newest));

    let (_, client) = migrated.pop().ok_or_else(|| anyhow::anyhow!("a client"))?;
    let tables: Vec<String> = client
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for table in ["audit", "citizens", "clock_members", "clocks", "events", "head", "plans", "requests", "reviews"] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
    let applied: i64 = client.query_one("SELECT count(*) FROM samplan_schema", &[]).await?.get(0);
    assert_eq!(applied, i64::from(newest), "each migration recorded once");

    // A schema from a newer hub is refused, with what to do.
    client
        .execute("INSERT INTO samplan_schema (version, name) VALUES ($1, 'from the future')", &[&(newest + 1)])
        .await?;
    let mut client = client;
    let refused = migrate(&mut client).await.expect_err("a newer schema").to_string();
    assert!(refused.contains("newer than this hub knows") && refused.contains("run the newer hub"), "{refused}");
    Ok(())
}

/// With `store.postgres.ca_file` set, every connection of the hub uses TLS
/// and the server's certificate is checked: a server whose certificate
/// another CA signed is refused when the hub starts, with the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_postgres_use_tls_when_a_ca_is_set() -> anyhow::Result<()> {
    let pki = samplan_hub::pki::Pki::new()?;
    let Some(postgres) = Postgres::start_tls(&pki.server.certificate_pem, &pki.server.key_pem)? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let (ca, other_ca) = (dir.path().join("pg-ca.pem"), dir.path().join("other-ca.pem"));
    std::fs::write(&ca, &pki.ca_pem)?;
    std::fs::write(&other_ca, &samplan_hub::pki::Pki::new()?.ca_pem)?;
    let settings = |ca: &std::path::Path| {
        store_settings(&postgres.connection_string("postgres")) + &format!("ca_file = \"{}\"\n", ca.display())
    };

    let hub = EmbeddedHub::start_configured(&dir.path().join("hub"), &settings(&ca)).await?;
    let mut ward = hub.plan_client(samplan_tests::WARD, "aut-4471", "PHYSICIAN").await?;
    samplan_tests::create_plan(&mut ward, samplan_tests::CPR).await?;
    let client = connect(&postgres).await?;
    let sql = "SELECT s.ssl, count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
               WHERE a.usename = $1 GROUP BY s.ssl";
    let by_ssl: std::collections::HashMap<bool, i64> =
        client.query(sql, &[&USER]).await?.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(by_ssl.get(&false), Some(&1), "only this test's own connection is plain: {by_ssl:?}");
    assert!(by_ssl.get(&true).is_some_and(|n| *n >= 2), "the hub's writer and listener use TLS: {by_ssl:?}");
    hub.stop().await?;

    let refused = EmbeddedHub::start_configured(&dir.path().join("other"), &settings(&other_ca)).await;
    let error = format!("{:#}", refused.expect_err("a server certificate of another CA is refused"));
    assert!(error.contains("certificate"), "the cause is named: {error}");
    Ok(())
}
