//! The PostgreSQL engine, as far as it is built (issue 15): the throwaway
//! cluster the tests start for themselves takes connections from
//! `tokio-postgres` and makes commits durable (`fsync` and
//! `synchronous_commit` on), and the hub's schema migrations apply once.

use samplan_services::store::postgres::{MIGRATIONS, migrate};
use samplan_tests::postgres::Postgres;

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
    let (client, connection) =
        tokio_postgres::connect(&postgres.connection_string("postgres"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
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
