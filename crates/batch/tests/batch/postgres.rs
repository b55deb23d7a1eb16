//! PostgreSQL in and out, against a real server: `tools/postgres.sh start` starts one on
//! loopback, and `tools/postgres.sh env` names it in `VERDICT_TEST_POSTGRES_URL`.
//!
//! Without the variable the tests fail, unless no PostgreSQL server is installed at all
//! and this is not CI; then they say loudly that they were skipped.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use crate::common::*;
use polars::prelude::*;
use verdict_batch::postgres::{Database, PostgresInput};
use verdict_batch::source::ReadHints;
use verdict_batch::{Error, Event, IfExists, Options, Passthrough, Scorer, Shard, Sink, Source};
use verdict_model::family::linear::LinearMissing;
use verdict_model::{Feature, NativeModel, Signature, Task};

/// The test server's URL, or `None` when the tests may be skipped.
fn server() -> Option<String> {
    if let Ok(url) = std::env::var("VERDICT_TEST_POSTGRES_URL") {
        return Some(url);
    }
    let how = "start one with `tools/postgres.sh start` and export what `tools/postgres.sh env` \
               prints (tools/test-all.sh does both)";
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("CI runs the PostgreSQL tests, but VERDICT_TEST_POSTGRES_URL is not set: {how}");
    }
    if server_installed() {
        panic!("a PostgreSQL server is installed, but VERDICT_TEST_POSTGRES_URL is not set: {how}");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: the PostgreSQL tests need a server, and none is installed; \
         tools/postgres.sh installs and starts one !!!!!!!!\n"
    );
    None
}

fn server_installed() -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("initdb").is_file()));
    let debian = std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
        versions
            .flatten()
            .any(|v| v.path().join("bin").join("initdb").is_file())
    });
    on_path || debian
}

fn database(url: &str) -> Database {
    Database::parse(&format!("{url}?sslmode=disable")).unwrap()
}

fn client(url: &str) -> postgres::Client {
    let mut client = database(url).connect().unwrap();
    client.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    client
}

/// Drops the test's tables, so that a test can run again after a failure.
fn fresh(client: &mut postgres::Client, tables: &[&str]) {
    for table in tables {
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
            .unwrap();
    }
}

/// `prediction = a + 2b + 3c + 4d`, NaN when any is missing.
fn abcd() -> Arc<NativeModel> {
    let signature = Signature::new(
        ["a", "b", "c", "d"].map(Feature::numeric).to_vec(),
        Task::Regression,
    );
    let family = linear(vec![1.0, 2.0, 3.0, 4.0], 0.0, LinearMissing::Propagate);
    Arc::new(NativeModel::new(signature, family).unwrap())
}

fn scorer(model: Arc<NativeModel>, passthrough: Passthrough, chunk_rows: usize) -> Scorer {
    let options = Options {
        passthrough,
        chunk_rows: NonZeroUsize::new(chunk_rows).unwrap(),
        ..Options::default()
    };
    Scorer::new(model, options).unwrap()
}

fn table(url: &str, name: &str) -> Source {
    Source::postgres(database(url), PostgresInput::Table(name.to_owned()))
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// The staging tables any run left behind.
fn staging_tables(client: &mut postgres::Client) -> i64 {
    count(
        client,
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'verdict_staging_%'",
    )
}

#[test]
fn every_type_is_read_and_written_back_and_nulls_are_missing() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["types_in", "types_out"]);
    db.batch_execute(
        "CREATE TABLE types_in (id bigint, a integer, b double precision, c numeric(10, 4), \
           d boolean, s varchar(10), dt date, ts timestamp, tstz timestamptz, u uuid, \
           iv interval, f4 real, sm smallint);
         INSERT INTO types_in VALUES
           (1, 2, 0.5, 1.25, true, 'héllo', '2024-02-29', '2024-02-29 13:45:01.123456',
            '2024-02-29 12:00:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:00',
            1.5, -7),
           (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
           (3, -1, 1e300, -12345.6789, false, '', '1969-07-20', '1999-12-31 23:59:59',
            '1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000', '-3 months',
            -0.25, 32767);",
    )
    .unwrap();

    let source = table(&url, "types_in");
    let schema = source.schema().unwrap();
    let dtypes: Vec<String> = schema.iter_values().map(|d| d.to_string()).collect();
    assert_eq!(
        dtypes,
        [
            "i64",
            "i32",
            "f64",
            "f64",
            "bool",
            "str",
            "date",
            "datetime[μs]",
            "datetime[μs, UTC]",
            "str",
            "str",
            "f32",
            "i32"
        ]
    );

    let scorer = scorer(abcd(), Passthrough::All, 2);
    let summary = scorer
        .run(
            source,
            &Sink::postgres(database(&url), "types_out"),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(summary.rows, 3);

    let rows = db
        .query(
            "SELECT id, a, b, c, d, s, dt::text, ts::text, tstz::text, u, iv, f4, sm, prediction, \
               pg_typeof(dt)::text, pg_typeof(tstz)::text
             FROM types_out ORDER BY id",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 3);
    let first = &rows[0];
    assert_eq!(first.get::<_, i32>(1), 2);
    assert_eq!(first.get::<_, f64>(2), 0.5);
    assert_eq!(first.get::<_, f64>(3), 1.25);
    assert!(first.get::<_, bool>(4));
    assert_eq!(first.get::<_, &str>(5), "héllo");
    assert_eq!(first.get::<_, &str>(6), "2024-02-29");
    assert_eq!(first.get::<_, &str>(7), "2024-02-29 13:45:01.123456");
    assert_eq!(first.get::<_, &str>(8), "2024-02-29 12:00:00+00");
    assert_eq!(
        first.get::<_, &str>(9),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(first.get::<_, &str>(10), "1 day 02:00:00");
    assert_eq!(first.get::<_, f32>(11), 1.5);
    assert_eq!(first.get::<_, i32>(12), -7);
    // 2 + 2 * 0.5 + 3 * 1.25 + 4 * 1
    assert_eq!(first.get::<_, f64>(13), 10.75);
    assert_eq!(first.get::<_, &str>(14), "date");
    assert_eq!(first.get::<_, &str>(15), "timestamp with time zone");

    let nulls = &rows[1];
    assert_eq!(nulls.get::<_, Option<i32>>(1), None);
    assert_eq!(nulls.get::<_, Option<f64>>(2), None);
    assert_eq!(nulls.get::<_, Option<&str>>(6), None);
    assert_eq!(nulls.get::<_, Option<bool>>(4), None);
    assert_eq!(nulls.get::<_, Option<&str>>(5), None);
    assert_eq!(nulls.get::<_, Option<&str>>(8), None);
    assert_eq!(nulls.get::<_, Option<&str>>(10), None);
    assert_eq!(nulls.get::<_, Option<i32>>(12), None);
    // Missing features are NaN to the model, which propagates them.
    assert!(nulls.get::<_, f64>(13).is_nan());

    let third = &rows[2];
    assert_eq!(third.get::<_, f64>(2), 1e300);
    assert_eq!(third.get::<_, f64>(3), -12345.6789);
    assert_eq!(third.get::<_, &str>(5), "");
    assert_eq!(third.get::<_, &str>(6), "1969-07-20");
    assert_eq!(third.get::<_, &str>(7), "1999-12-31 23:59:59");
    assert_eq!(third.get::<_, &str>(8), "1970-01-01 00:00:00+00");
    assert_eq!(third.get::<_, &str>(10), "-3 mons");
    assert_eq!(third.get::<_, i32>(12), 32767);
}

#[test]
fn a_feature_of_a_type_that_cannot_be_one_is_named_with_its_column() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["unfit_in", "unfit_out"]);
    db.batch_execute("CREATE TABLE unfit_in (x0 interval); INSERT INTO unfit_in VALUES ('1 day');")
        .unwrap();
    let error = scorer(regressor(1), Passthrough::None, 10)
        .run(
            table(&url, "unfit_in"),
            &Sink::postgres(database(&url), "unfit_out"),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(matches!(error, Error::PostgresType { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("`x0`") && message.contains("interval"),
        "{message}"
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM pg_class WHERE relname = 'unfit_out'"
        ),
        0
    );
}

#[test]
fn an_empty_result_makes_an_empty_table() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["empty_out"]);
    let query = "SELECT g AS a, g * 0.5 AS b, g AS c, true AS d, g AS id \
                 FROM generate_series(1, 10) AS g WHERE g > 100";
    let source = Source::postgres(database(&url), PostgresInput::Query(query.into()));
    let summary = scorer(abcd(), Passthrough::Columns(vec!["id".into()]), 4)
        .run(
            source,
            &Sink::postgres(database(&url), "empty_out"),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(summary.rows, 0);
    assert_eq!(count(&mut db, "SELECT count(*) FROM empty_out"), 0);
    let columns: Vec<String> = db
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'empty_out' ORDER BY ordinal_position",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(columns, ["id", "prediction"]);
}

#[test]
fn a_query_error_is_the_servers_and_writes_nothing() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["bad_query_out"]);
    let source = Source::postgres(
        database(&url),
        PostgresInput::Query("SELECT x0 FROM no_such_table".into()),
    );
    let error = scorer(regressor(1), Passthrough::None, 10)
        .run(
            source,
            &Sink::postgres(database(&url), "bad_query_out"),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(matches!(error, Error::Postgres { .. }), "{error:?}");
    assert!(error.to_string().contains("no_such_table"), "{error}");
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM pg_class WHERE relname = 'bad_query_out'"
        ),
        0
    );
}

#[test]
fn a_run_failing_midway_leaves_the_target_as_it_was_and_no_staging_table() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["midway_out"]);
    db.batch_execute("CREATE TABLE midway_out (old text); INSERT INTO midway_out VALUES ('kept');")
        .unwrap();
    // Row 700 divides by zero, after several chunks were written to the staging table.
    let query = "SELECT 1.0 / (700 - g) AS x0 FROM generate_series(1, 1000) AS g ORDER BY g";
    let source = Source::postgres(database(&url), PostgresInput::Query(query.into()));
    let sink = Sink::postgres(database(&url), "midway_out").with_if_exists(IfExists::Replace);
    let error = scorer(regressor(1), Passthrough::None, 100)
        .run(source, &sink, &mut |_| {})
        .unwrap_err();
    assert!(error.to_string().contains("division by zero"), "{error}");
    let kept: String = db
        .query_one("SELECT old FROM midway_out", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, "kept");
    assert_eq!(staging_tables(&mut db), 0);
}

#[test]
fn fail_append_and_replace_do_what_they_say() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["modes_in", "modes_out"]);
    db.batch_execute(
        "CREATE TABLE modes_in AS SELECT g AS id, g::float8 AS x0 FROM generate_series(1, 50) AS g",
    )
    .unwrap();
    let scorer = scorer(regressor(1), Passthrough::Columns(vec!["id".into()]), 16);
    let run = |if_exists| {
        let sink = Sink::postgres(database(&url), "modes_out").with_if_exists(if_exists);
        scorer.run(table(&url, "modes_in"), &sink, &mut |_| {})
    };
    run(IfExists::Fail).unwrap();
    assert_eq!(count(&mut db, "SELECT count(*) FROM modes_out"), 50);
    let error = run(IfExists::Fail).unwrap_err();
    assert!(matches!(error, Error::OutputExists { .. }), "{error:?}");
    run(IfExists::Append).unwrap();
    assert_eq!(count(&mut db, "SELECT count(*) FROM modes_out"), 100);
    assert_eq!(
        count(&mut db, "SELECT count(DISTINCT id) FROM modes_out"),
        50
    );
    db.batch_execute("ALTER TABLE modes_out ADD COLUMN extra int")
        .unwrap();
    run(IfExists::Replace).unwrap();
    assert_eq!(count(&mut db, "SELECT count(*) FROM modes_out"), 50);
    // The replacement has the run's columns, not the old table's.
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'modes_out'"
        ),
        2
    );
    assert_eq!(staging_tables(&mut db), 0);

    // Appending needs the output's columns in the table.
    db.batch_execute("ALTER TABLE modes_out DROP COLUMN prediction")
        .unwrap();
    let error = run(IfExists::Append).unwrap_err();
    assert!(error.to_string().contains("prediction"), "{error}");
}

#[test]
fn readers_see_the_old_table_until_the_commit() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["swap_in", "swap_out"]);
    db.batch_execute(
        "CREATE TABLE swap_in AS SELECT g::float8 AS x0 FROM generate_series(1, 500) AS g;
         CREATE TABLE swap_out (old text); INSERT INTO swap_out VALUES ('old');",
    )
    .unwrap();
    let sink = Sink::postgres(database(&url), "swap_out").with_if_exists(IfExists::Replace);
    let mut looked = 0;
    let mut events = |event: Event| {
        if let Event::Progress { .. } = event {
            // Mid-run, chunks written: another session still reads the old table.
            let old: String = db
                .query_one("SELECT old FROM swap_out", &[])
                .unwrap()
                .get(0);
            assert_eq!(old, "old");
            looked += 1;
        }
    };
    scorer(regressor(1), Passthrough::None, 100)
        .run(table(&url, "swap_in"), &sink, &mut events)
        .unwrap();
    assert_eq!(looked, 5);
    assert_eq!(count(&mut db, "SELECT count(*) FROM swap_out"), 500);
}

/// The values of `column` in one shard of `source`.
fn shard_ids(source: Source, column: &str) -> Vec<i64> {
    let mut reader = source
        .open(&ReadHints::default(), NonZeroUsize::new(1000).unwrap())
        .unwrap();
    let mut ids = Vec::new();
    while let Some((chunk, _)) = reader.next_chunk().unwrap() {
        let values = chunk
            .column(column)
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap();
        ids.extend(values.i64().unwrap().iter().flatten());
    }
    ids
}

#[test]
fn shards_split_a_table_by_pages_or_by_key_into_disjoint_stable_parts() {
    let Some(url) = server() else { return };
    let mut db = client(&url);
    fresh(&mut db, &["shard_in"]);
    // Wide enough rows for many pages.
    db.batch_execute(
        "CREATE TABLE shard_in AS SELECT g AS id, repeat('x', 200) AS pad \
         FROM generate_series(1, 20000) AS g",
    )
    .unwrap();
    let pages = count(&mut db, "SELECT pg_relation_size('shard_in') / 8192");
    assert!(pages > 100, "{pages} pages");
    for by_key in [false, true] {
        let mut all = BTreeSet::new();
        let mut total = 0;
        for index in 0..3 {
            let shard = Shard::new(index, 3).unwrap();
            let source = || {
                let source = table(&url, "shard_in").with_shard(shard);
                if by_key {
                    source.with_shard_key("id")
                } else {
                    source
                }
            };
            let ids = shard_ids(source(), "id");
            // A fair share, and the same share again.
            assert!(
                (5000..8500).contains(&ids.len()),
                "shard {index}: {} rows",
                ids.len()
            );
            let mut again = shard_ids(source(), "id");
            let mut sorted = ids.clone();
            sorted.sort();
            again.sort();
            assert_eq!(sorted, again);
            total += ids.len();
            all.extend(ids);
        }
        assert_eq!(total, 20000, "by key: {by_key}");
        assert_eq!(all.len(), 20000);
    }
    // A query has no pages: it needs the key.
    let query = Source::postgres(
        database(&url),
        PostgresInput::Query("SELECT id FROM shard_in".into()),
    )
    .with_shard(Shard::new(0, 2).unwrap());
    let error = query
        .open(&ReadHints::default(), NonZeroUsize::new(10).unwrap())
        .unwrap_err();
    assert!(error.to_string().contains("--shard-key"), "{error}");
}

#[test]
fn passwords_come_from_the_password_file_and_tls_is_verified() {
    let Some(url) = server() else { return };
    let (without_password, password) = {
        let (scheme_user, rest) = url.split_once('@').unwrap();
        let (user_part, password) = scheme_user.rsplit_once(':').unwrap();
        (format!("{user_part}@{rest}"), password.to_owned())
    };
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    std::fs::write(&passfile, format!("*:*:*:*:{password}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let connect = |params: &str| {
        let db = Database::parse(&format!(
            "{without_password}?passfile={}&{params}",
            passfile.display()
        ))
        .unwrap();
        let mut client = db.connect()?;
        let ssl: bool = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0);
        Ok::<bool, Error>(ssl)
    };
    assert!(!connect("sslmode=disable").unwrap());
    let Ok(ca) = std::env::var("VERDICT_TEST_POSTGRES_CA") else {
        // tools/postgres.sh offers TLS whenever openssl is there.
        eprintln!("!!!!!!!! TLS not tested: the test server offers none !!!!!!!!");
        return;
    };
    assert!(connect("sslmode=require").unwrap());
    assert!(connect(&format!("sslmode=verify-full&sslrootcert={ca}")).unwrap());
    // A root certificate that did not sign the server's fails verification.
    let other = dir.path().join("other.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=other", "-keyout"])
        .arg(dir.path().join("other.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success());
    let error = connect(&format!(
        "sslmode=verify-ca&sslrootcert={}",
        other.display()
    ))
    .unwrap_err();
    assert!(matches!(error, Error::Postgres { .. }), "{error:?}");
    assert!(Path::new(&ca).exists());
}
