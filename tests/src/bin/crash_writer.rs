//! Write reflections forever, printing each id only after the store has
//! acknowledged it (committed durably). The crash test kills this process
//! with SIGKILL at random moments and checks every printed id survived.
//!
//! Usage: crash-writer HOME_DIR MAX_WRITES (it stops by itself after MAX_WRITES)

use std::io::Write;

use mirror_node::home::Home;
use mirror_node::model::{ContentType, Id, Metadata, Reflection, Source, Timestamp, Visibility};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: crash-writer HOME_DIR MAX_WRITES";
    let dir = std::env::args().nth(1).ok_or(usage)?;
    let max: u64 = std::env::args().nth(2).ok_or(usage)?.parse()?;
    let home = Home::at(dir);
    let store = home.open_store()?;
    let identity = home.init_with(&store, "crash")?.identity;
    let mut stdout = std::io::stdout().lock();
    for n in 0..max {
        let reflection = Reflection {
            id: Id::new(),
            identity_id: identity.id,
            content: format!("reflection number {n}: the quick brown fox, again"),
            content_type: ContentType::PlainText,
            visibility: Visibility::LocalOnly,
            source: Source::Cli,
            created_at: Timestamp::now(),
            metadata: Metadata::default(),
        };
        store.insert_reflection(&reflection, None)?;
        writeln!(stdout, "{}", reflection.id)?;
        stdout.flush()?;
    }
    Ok(())
}
