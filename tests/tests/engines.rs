//! The PostgreSQL the tests start for themselves (issue 15's engine runs on
//! it): a throwaway cluster that takes connections from `tokio-postgres` and
//! makes commits durable (`fsync` and `synchronous_commit` on), as the
//! engine's promises need.

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
