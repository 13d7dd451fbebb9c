//! Row rules, one file per operation: who may touch a table's rows (`access`), inserting,
//! reading, updating, deleting and listing them.

mod access;
mod delete;
mod insert;
mod list;
mod read;
mod summary;
mod update;

pub use self::access::*;
pub use self::delete::*;
pub use self::insert::*;
pub use self::list::*;
pub use self::read::*;
pub use self::summary::*;
pub use self::update::*;

/// Most rows one insertRows or deleteRows call may carry.
pub const MAX_ROWS_PER_CALL: usize = 1_000;
