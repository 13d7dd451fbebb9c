//! The committed schema.graphql is what the code serves, and src/db/schema.rs is what the migrations make.

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed");
    let generated = guildhall::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}

/// A column as the migrations make it and as `src/db/schema.rs` describes it: its type in
/// PostgreSQL's short name (`uuid`, `timestamptz`, …) and whether it may be null.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Column {
    table: String,
    name: String,
    sql_type: String,
    nullable: bool,
}

#[derive(diesel::QueryableByName)]
struct MigratedColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    udt_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    is_nullable: String,
}

#[derive(diesel::QueryableByName)]
struct KeyColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

/// The tables, primary keys and columns `diesel::table!` declares in `src/db/schema.rs`,
/// read from its text (the shape `diesel print-schema` writes).
fn described_schema() -> (Vec<Column>, Vec<(String, String)>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs"))
        .expect("src/db/schema.rs");
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    let mut table: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        let heading = trimmed
            .strip_suffix('{')
            .and_then(|head| head.trim().split_once(' '))
            .and_then(|(name, key)| Some((name, key.strip_prefix('(')?.strip_suffix(')')?)));
        if let Some((name, key)) = heading {
            for column in key.split(',') {
                keys.push((name.to_owned(), column.trim().to_owned()));
            }
            table = Some(name.to_owned());
            continue;
        }
        if trimmed == "}" {
            table = None;
            continue;
        }
        let (Some(table), Some((name, sql_type))) = (&table, trimmed.split_once(" -> ")) else {
            continue;
        };
        let sql_type = sql_type.trim_end_matches(',');
        let (sql_type, nullable) = match sql_type
            .strip_prefix("Nullable<")
            .and_then(|t| t.strip_suffix('>'))
        {
            Some(inner) => (inner, true),
            None => (sql_type, false),
        };
        // PostgreSQL names an array type after its element, with a leading underscore.
        let sql_type = match sql_type.strip_prefix("Array<").and_then(|t| t.strip_suffix('>')) {
            Some(element) => format!("_{element}"),
            None => sql_type.to_owned(),
        };
        columns.push(Column {
            table: table.clone(),
            name: name.to_owned(),
            sql_type: sql_type.to_lowercase(),
            nullable,
        });
    }
    columns.sort();
    keys.sort();
    (columns, keys)
}

/// `src/db/schema.rs` is hand-kept in diesel's shape; this holds it to the migrations, so a
/// migration that renames, retypes or relaxes a column cannot leave diesel reading a column
/// that is not there, or a nullable one as if it never were null.
#[tokio::test(flavor = "multi_thread")]
async fn the_diesel_schema_describes_every_migrated_table_and_column() {
    use diesel_async::RunQueryDsl;

    let db = crate::helpers::TestDb::create().await;
    let mut conn = db.connect().await;
    let migrated: Vec<MigratedColumn> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, udt_name::text, is_nullable::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .await
    .expect("information_schema.columns");
    let mut migrated: Vec<Column> = migrated
        .into_iter()
        .map(|c| Column {
            table: c.table_name,
            name: c.column_name,
            sql_type: c.udt_name,
            nullable: c.is_nullable == "YES",
        })
        .collect();
    migrated.sort();
    let migrated_keys: Vec<KeyColumn> = diesel::sql_query(
        "SELECT k.table_name::text, k.column_name::text \
         FROM information_schema.table_constraints c \
         JOIN information_schema.key_column_usage k \
           ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema \
         WHERE c.table_schema = 'public' AND c.constraint_type = 'PRIMARY KEY' \
           AND c.table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .await
    .expect("primary keys");
    let mut migrated_keys: Vec<(String, String)> = migrated_keys
        .into_iter()
        .map(|k| (k.table_name, k.column_name))
        .collect();
    migrated_keys.sort();

    let (described, described_keys) = described_schema();
    assert!(
        described.len() > 100,
        "schema.rs was read: {} columns",
        described.len()
    );
    let missing: Vec<&Column> = migrated.iter().filter(|c| !described.contains(c)).collect();
    let stale: Vec<&Column> = described.iter().filter(|c| !migrated.contains(c)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "src/db/schema.rs differs from the migrations\nin the database, not as described: {missing:#?}\ndescribed, not in the database: {stale:#?}"
    );
    assert_eq!(described_keys, migrated_keys, "primary keys in src/db/schema.rs");
}
