//! The `mirror` command line.
//!
//! Every command is a function from parsed arguments to an [`Output`]: a JSON
//! value for scripts (`--json`) and a text for people. Commands never print
//! directly (apart from notes on stderr), so the same code can later answer
//! through the daemon. Exit codes: 0 success, 2 usage error, 1 anything else,
//! with one line on stderr.

mod commons;
mod data;
mod engine;
mod governance;
mod organize;
mod reflections;
mod render;
mod stream;
mod telemetry;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::home::{Home, InitReport};
use crate::model::{
    ConsentCategory, ContentType, EngineMode, FeedbackFlag, Identity, ThreadStatus, Timestamp,
    ValidationError, Visibility,
};
use crate::store::Store;

pub use render::{Output, escape};

#[derive(Debug, Parser)]
#[command(
    name = "mirror",
    version,
    about = "A sovereign reflection node: write, and be mirrored back, never prescribed to.",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    /// Where the node keeps its data [default: the platform data directory]
    #[arg(long, global = true, env = "MIRROR_HOME", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output on stderr (-v info, -vv debug); RUST_LOG also works
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up the node: data directory, database, identity and config
    Init {
        /// A name for your identity (only you see it)
        #[arg(long, default_value = "me")]
        name: String,
    },
    /// Write a reflection (from the arguments, stdin, or $EDITOR)
    Reflect(ReflectArgs),
    /// List reflections, newest first
    List(ListArgs),
    /// Show one reflection with its mirrorbacks and threads
    Show {
        /// Reflection id (or a unique prefix of it)
        id: String,
    },
    /// Find reflections containing every word (`word*` matches a prefix)
    Search {
        #[arg(required = true, value_name = "WORDS")]
        query: Vec<String>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Group reflections into threads
    #[command(subcommand)]
    Thread(ThreadCommand),
    /// Track tensions between two poles (control ↔ surrender, …)
    #[command(subcommand)]
    Tension(TensionCommand),
    /// Rate a mirrorback (by its engine run id)
    Feedback {
        /// Engine run id (or a unique prefix)
        run: String,
        /// 1 (missed) to 5 (landed)
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        rating: u8,
        /// What was off (or right); repeatable
        #[arg(long = "flag", value_name = "FLAG")]
        flags: Vec<FeedbackFlag>,
        /// A note in your own words
        #[arg(long)]
        note: Option<String>,
    },
    /// Write everything to one open bundle file (.tar.gz)
    Export {
        /// Where to write the bundle [default: ./mirror-export-<time>.tar.gz]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also include secret keys (keep such a bundle safe)
        #[arg(long)]
        include_keys: bool,
    },
    /// Verify a bundle completely, then merge it into this node. An import
    /// never grants consent, enables an integration or changes settings
    /// and engine endpoints; it lists what it left out.
    Import {
        file: PathBuf,
        /// Only verify the bundle (and show its settings); change nothing
        #[arg(long)]
        dry_run: bool,
        /// Also apply the bundle's config.toml (engines, endpoints, commons),
        /// after showing it and asking
        #[arg(long)]
        restore_config: bool,
        /// With --restore-config: apply without asking (the settings are
        /// still shown on stderr first)
        #[arg(long, requires = "restore_config")]
        yes: bool,
    },
    /// Inspect or move the database schema
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Where the node lives and what it holds
    Status,
    /// Measure the engine against a labelled set (JSON Lines)
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Show or change settings (config.toml)
    #[command(subcommand)]
    Config(ConfigCommand),
    /// What may leave this node: show, grant or revoke consent per category
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// The constitution this node runs under
    #[command(subcommand)]
    Constitution(ConstitutionCommand),
    /// Where help is: the emergency number and helplines the crisis answer
    /// shows (set the region with `mirror config set safety.region GB`)
    #[command(subcommand)]
    Safety(SafetyCommand),
    /// Run the node: the commons service (libp2p) and its control API, until
    /// Ctrl-C or SIGTERM
    Node(NodeArgs),
    /// The commons this node belongs to: status, peers, records
    #[command(subcommand)]
    Commons(CommonsCommand),
    /// Commons membership: attest, revoke, list
    #[command(subcommand)]
    Member(governance::MemberCommand),
    /// Evolution proposals: draft, submit, advance, vote, tally
    #[command(subcommand)]
    Proposal(governance::ProposalCommand),
    /// Guardian acts: sign an amendment or a root rotation
    #[command(subcommand)]
    Guardian(governance::GuardianCommand),
    /// Guardian-signed releases (TUF): build, sign, publish, verify, apply, roll back
    #[command(subcommand)]
    Release(governance::ReleaseCommand),
    /// The governed parameter pack in force
    #[command(subcommand)]
    Params(ParamsCommand),
    /// What the node noticed about its own engine
    #[command(subcommand)]
    Evolution(EvolutionCommand),
    /// Anonymous telemetry this node shares with consent: preview, send, budget, log
    #[command(subcommand)]
    Telemetry(telemetry::TelemetryCommand),
    /// Check the journal for damage (read-only), and save what is readable
    Doctor {
        /// Write every readable record to this new store (or bundle, if it
        /// ends in .tar.gz), naming what was lost; the damaged file is not
        /// changed
        #[arg(long, value_name = "OUT")]
        salvage: Option<PathBuf>,
        /// With --salvage: also take records the damaged file lost from the
        /// newest daily backup (anything written since is only in the
        /// damaged file)
        #[arg(long, requires = "salvage")]
        with_backup: bool,
    },
    /// Show what the engine notices in a text, without storing anything
    Analyze {
        /// The text; nothing reads stdin
        text: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvolutionCommand {
    /// Pattern and flag frequencies, violations and fallbacks per engine,
    /// ratings, durations; the critics' findings and recommendations
    Report {
        /// Over the last N days
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every setting in force, defaults included
    Show,
    /// Change one setting, e.g. `engine.mode ollama` or `engine.ollama.model llama3.1`
    Set { key: String, value: String },
    /// Remove one setting so its default is in force again (for a value the
    /// commons governs, e.g. engine.max_regenerations: the pack's)
    Unset { key: String },
}

#[derive(Debug, Subcommand)]
pub enum ParamsCommand {
    /// The pack in force: the release that put it there, its hash, and
    /// every value (or those under one JSON Pointer, e.g. /thresholds)
    Show {
        #[arg(value_name = "POINTER")]
        pointer: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Each category, and when it was last decided
    Show,
    /// Allow one category (telemetry, evolution_feedback, sharing_reflections, remote_engine)
    Grant { category: ConsentCategory },
    /// Withdraw one category
    Revoke { category: ConsentCategory },
}

#[derive(Debug, Subcommand)]
pub enum SafetyCommand {
    /// The resources in force for this node's region, and every region the
    /// directory knows
    Show,
}

#[derive(Debug, Subcommand)]
pub enum ConstitutionCommand {
    /// The documents, invariants and hash
    Show,
    /// Check that the constitution in use is the genesis or ratified
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Precision, recall and F1 per pattern
    Patterns {
        file: PathBuf,
        /// Also list every item the engine got wrong
        #[arg(long)]
        misses: bool,
    },
    /// Precision, recall and F1 per tension axis
    Tensions {
        file: PathBuf,
        #[arg(long)]
        misses: bool,
    },
    /// Accuracy of the compliance checker, and how often it flags compliant text
    Compliance {
        file: PathBuf,
        #[arg(long)]
        misses: bool,
    },
    /// Recall of the crisis check, and how often it flags look-alikes
    Crisis { file: PathBuf },
    /// Answer every entry of a mirrorbacks set with the built-in engine;
    /// print the machine checks, and write the answers for blind judging
    Mirrorbacks {
        file: PathBuf,
        /// Write `{id, lang, kind, tension, text, answer}` lines here
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Region for crisis answers (default: the international fallback)
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ReflectArgs {
    /// The reflection; `-` reads stdin; nothing opens $EDITOR (or reads piped stdin)
    pub text: Vec<String>,
    /// Write it in $VISUAL or $EDITOR even when stdin is not a terminal
    #[arg(long, conflicts_with = "text")]
    pub editor: bool,
    /// Add it to this thread (id or prefix)
    #[arg(long)]
    pub thread: Option<String>,
    /// Who may ever see it beyond this node
    #[arg(long, default_value = "local_only")]
    pub visibility: Visibility,
    #[arg(long, default_value = "text/plain")]
    pub content_type: ContentType,
    /// A JSON object kept with it, e.g. '{"mood":"calm"}'
    #[arg(long)]
    pub metadata: Option<String>,
    /// When it was written, if not now (RFC 3339 or YYYY-MM-DD)
    #[arg(long)]
    pub at: Option<Timestamp>,
    /// Answer with this engine this time (manual = the built-in mirror)
    #[arg(long)]
    pub engine: Option<EngineMode>,
}

#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only reflections in this thread
    #[arg(long)]
    pub thread: Option<String>,
    #[arg(long)]
    pub visibility: Option<Visibility>,
    /// Written at or after (RFC 3339 or YYYY-MM-DD)
    #[arg(long)]
    pub since: Option<Timestamp>,
    /// Written before (RFC 3339 or YYYY-MM-DD)
    #[arg(long)]
    pub until: Option<Timestamp>,
    /// Only this identity's reflections (id or prefix)
    #[arg(long)]
    pub identity: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Oldest first
    #[arg(long)]
    pub oldest_first: bool,
}

#[derive(Debug, Subcommand)]
pub enum ThreadCommand {
    /// Start a thread
    New { title: String },
    /// List threads
    List {
        #[arg(long)]
        status: Option<ThreadStatus>,
    },
    /// Show a thread and its reflections
    Show { id: String },
    /// Add reflections to a thread
    Add {
        thread: String,
        #[arg(required = true)]
        reflections: Vec<String>,
    },
    /// Archive a thread
    Archive { id: String },
    /// Pause a thread
    Pause { id: String },
    /// Make an archived or paused thread active again
    Reopen { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TensionCommand {
    /// Start tracking a tension between two poles
    Add {
        /// A name for it, e.g. "work and rest"
        name: String,
        /// The first pole, e.g. control
        axis_a: String,
        /// The second pole, e.g. surrender
        axis_b: String,
        /// -1 (fully axis_a) to 1 (fully axis_b)
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        position: f64,
        /// 0 (faint) to 1 (consuming)
        #[arg(long, default_value_t = 0.5)]
        intensity: f64,
    },
    /// List tracked tensions
    List,
    /// Show a tension and its evidence
    Show { id: String },
    /// Tensions the engine noticed and offers to track
    Suggestions {
        /// Also show accepted and dismissed ones
        #[arg(long)]
        all: bool,
    },
    /// Track a suggested tension
    Accept { id: String },
    /// Let a suggested tension go (it will not be suggested again)
    Dismiss { id: String },
    /// Record where you stand now
    Position {
        id: String,
        #[arg(allow_negative_numbers = true)]
        value: f64,
        #[arg(long)]
        intensity: Option<f64>,
        /// The reflection this comes from (id or prefix)
        #[arg(long)]
        reflection: Option<String>,
        /// Why, in your words
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Address to listen on (repeatable) [default: from config, /ip4/0.0.0.0/tcp/0]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Peer to connect to at start (repeatable), e.g. /ip4/10.0.0.2/tcp/4101/p2p/12D3…
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Do not look for peers on the local network (mDNS)
    #[arg(long)]
    pub no_mdns: bool,
}

#[derive(Debug, Subcommand)]
pub enum CommonsCommand {
    /// The commons id, records held, documents, rejections per peer
    Status,
    /// Connected peers (needs a running `mirror node`)
    Peers,
    /// Accepted records, newest first
    Records {
        /// Only this kind (vote, evolution_proposal, telemetry_packet, …)
        #[arg(long)]
        kind: Option<String>,
    },
    /// One accepted record, whole
    Show { id: String },
    /// Publish a signed record (its canonical JSON bytes) from a file
    Publish { file: PathBuf },
    /// Found a commons (its genesis record)
    #[command(subcommand)]
    Genesis(governance::GenesisCommand),
    /// Make a commons (by its genesis record file) this node's commons; the
    /// records of the one left stay in its own store
    Join { file: PathBuf },
    /// Every commons whose records this node holds, and which is in force
    List,
    /// Switch to a commons this node holds (by id), e.g. back to one it left
    Use { id: String },
    /// The commons-wide telemetry aggregate, corrected for the noise, with
    /// 95% intervals
    Telemetry {
        /// This period index instead of the newest
        #[arg(long)]
        period: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Show the database's schema version and the known migrations
    Status,
    /// Migrate to the newest schema (a backup is written first)
    Up,
    /// Roll the schema back to an older version (a backup is written first)
    Down {
        #[arg(long, value_name = "N")]
        to: u32,
    },
}

/// An error that is the caller's to fix in their command line: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl From<ValidationError> for UsageError {
    fn from(e: ValidationError) -> Self {
        UsageError(e.to_string())
    }
}

/// What every command needs: where the home is, and how to answer.
pub struct Context {
    pub home: Home,
    /// Whether the answer will be printed as JSON.
    pub json: bool,
}

impl Context {
    pub fn new(cli: &Cli) -> anyhow::Result<Context> {
        Ok(Context {
            home: Home::resolve(cli.data_dir.clone())?,
            json: cli.json,
        })
    }

    /// The store, created (with its directory) on first use.
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(self.home.open_store()?)
    }

    /// The store, read-only: for commands that only read, so they work on a
    /// read-only disk and never write to the file.
    pub fn store_read(&self) -> anyhow::Result<Store> {
        Ok(self.home.open_store_read()?)
    }

    /// The store writable if it can be opened so (a reading command that
    /// would like to update an index), else read-only.
    pub fn store_or_read(&self) -> anyhow::Result<Store> {
        use crate::home::HomeError;
        use crate::store::StoreError;
        match self.home.open_store() {
            Ok(store) => Ok(store),
            Err(HomeError::Store(
                StoreError::Io { .. }
                | StoreError::Damaged { .. }
                | StoreError::ReadOnly { .. }
                | StoreError::NeedsRecovery { .. },
            ))
            | Err(HomeError::Io { .. }) => self.store_read(),
            Err(e) => Err(e.into()),
        }
    }

    /// The reflection engine: this node's constitution (verified) and
    /// parameter pack.
    pub fn engine(&self) -> anyhow::Result<crate::engine::Engine> {
        let constitution = self.home.constitution()?;
        let params = self.home.engine_params()?;
        Ok(crate::engine::Engine::new(&constitution, params)?)
    }

    /// The identity new records belong to, setting the node up on first use
    /// and saying so on stderr.
    pub fn identity(&self, store: &Store) -> anyhow::Result<Identity> {
        let report = self.home.init_with(store, "me")?;
        if report.created {
            announce_init(&report);
        }
        Ok(report.identity)
    }
}

pub(crate) fn announce_init(report: &InitReport) {
    eprintln!(
        "mirror: set up a new node in {} (identity {}, key in {})",
        report.home.display(),
        report.identity.public_key.fingerprint(),
        report.key_file.display()
    );
}

/// Run one parsed command.
///
/// A panic from inside the storage engine (redb may panic on a damaged
/// file) does not escape as a crash: the database is marked damaged and the
/// command fails with one line saying what to do. Any damage an error
/// reports (a checksum, redb's `Corrupted`) marks it too, so writing stops
/// before it makes things worse.
pub fn run(cli: &Cli) -> anyhow::Result<Output> {
    let ctx = Context::new(cli)?;
    // Whatever an earlier export killed mid-way left behind.
    crate::bundle::clean_recorded(&ctx.home);
    let db = ctx.home.db_path();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(&ctx, cli)));
    match outcome {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => {
            let damage = error
                .chain()
                .filter_map(|c| c.downcast_ref::<crate::store::StoreError>())
                .find(|e| e.is_damage() && !matches!(e, crate::store::StoreError::Damaged { .. }));
            if let Some(damage) = damage
                && db.exists()
            {
                crate::store::integrity::mark_damaged(&db, &damage.to_string());
                return Err(error.context(format!(
                    "the database {} is damaged; it is kept read-only from now on (`mirror doctor` shows what is readable and how to save it)",
                    db.display()
                )));
            }
            Err(error)
        }
        Err(payload) => match crate::store::integrity::take_store_panic() {
            Some(reason) => {
                let reason = format!("the storage engine stopped on damaged data: {reason}");
                crate::store::integrity::mark_damaged(&db, &reason);
                Err(crate::store::StoreError::Damaged { path: db, reason }.into())
            }
            None => std::panic::resume_unwind(payload),
        },
    }
}

fn dispatch(ctx: &Context, cli: &Cli) -> anyhow::Result<Output> {
    match &cli.command {
        Command::Init { name } => data::init(ctx, name),
        Command::Reflect(args) => reflections::reflect(ctx, args),
        Command::List(args) => reflections::list(ctx, args),
        Command::Show { id } => reflections::show(ctx, id),
        Command::Search { query, filters } => reflections::search(ctx, query, filters),
        Command::Thread(cmd) => organize::thread(ctx, cmd),
        Command::Tension(cmd) => organize::tension(ctx, cmd),
        Command::Feedback {
            run,
            rating,
            flags,
            note,
        } => organize::feedback(ctx, run, *rating, flags, note.as_deref()),
        Command::Export { out, include_keys } => data::export(ctx, out.as_deref(), *include_keys),
        Command::Import {
            file,
            dry_run,
            restore_config,
            yes,
        } => data::import(
            ctx,
            file,
            &data::ImportChoices {
                dry_run: *dry_run,
                restore_config: *restore_config,
                yes: *yes,
            },
        ),
        Command::Migrate(cmd) => data::migrate(ctx, cmd),
        Command::Status => data::status(ctx),
        Command::Eval(cmd) => engine::eval(ctx, cmd),
        Command::Analyze { text } => engine::analyze(ctx, text),
        Command::Doctor {
            salvage,
            with_backup,
        } => data::doctor(ctx, salvage.as_deref(), *with_backup),
        Command::Node(args) => commons::node(ctx, args),
        Command::Commons(cmd) => commons::commons(ctx, cmd),
        Command::Member(cmd) => governance::member(ctx, cmd),
        Command::Telemetry(cmd) => telemetry::telemetry_cmd(ctx, cmd),
        Command::Evolution(EvolutionCommand::Report { days }) => {
            engine::evolution_report(ctx, *days)
        }
        Command::Proposal(cmd) => governance::proposal(ctx, cmd),
        Command::Guardian(cmd) => governance::guardian(ctx, cmd),
        Command::Release(cmd) => governance::release_cmd(ctx, cmd),
        Command::Config(cmd) => engine::config(ctx, cmd),
        Command::Params(ParamsCommand::Show { pointer }) => {
            engine::params_show(ctx, pointer.as_deref())
        }
        Command::Consent(cmd) => engine::consent(ctx, cmd),
        Command::Constitution(cmd) => engine::constitution(ctx, cmd),
        Command::Safety(SafetyCommand::Show) => engine::safety_show(ctx),
    }
}

/// The exit code for an error: 2 when the command line was at fault.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    let usage = error.chain().any(|cause| {
        cause.is::<UsageError>()
            || matches!(
                cause.downcast_ref::<crate::store::StoreError>(),
                Some(crate::store::StoreError::Invalid(
                    ValidationError::InvalidId { .. }
                ))
            )
    });
    if usage { 2 } else { 1 }
}
