//! The PostgreSQL engine (issue 15), being built: so far its schema and the
//! versioned migrations a hub applies when it starts. The engine itself
//! (one transaction per round, the head row, LISTEN/NOTIFY) comes next; the
//! application step it will share with sled is `super::decide`.

mod migrations;

pub use migrations::{MIGRATIONS, Migrated, Migration, migrate};
