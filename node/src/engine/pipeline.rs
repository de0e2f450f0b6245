//! The reflection pipeline: what happens when a person writes.
//!
//! 1. The reflection is stored durably, before anything else can fail.
//! 2. The crisis check reads it before anything else does. If the entry
//!    shows acute risk, the node answers itself: care, in the writer's
//!    language, and where help is for the person's region. Nothing is
//!    analysed, no model sees the entry, nothing is offered to observers or
//!    counted in telemetry; the engine run is marked `crisis`.
//! 3. Otherwise the engine finds patterns and tensions; tensions become
//!    evidence for what the person already tracks, or suggestions.
//! 4. A mirrorback is written by the configured engine. A language model's
//!    answer must pass the compliance checker; if it does not, it is
//!    regenerated with a stricter instruction naming what was wrong, up to
//!    `max_regenerations` times. If it still fails, or the model cannot be
//!    reached, or is off this machine without the person's consent, the
//!    built-in mirror answers instead. The reflection is never lost.
//!    An answer that passes compliance then meets the second gate
//!    ([`gate`]): addressed to the person, not about its own instructions,
//!    nothing the entry does not say, a reflection's length, the entry's
//!    language. A failure there is regenerated and falls back the same way,
//!    and the stored flags name the checks that failed. Trust is earned
//!    ([`standing`]): until a model's answers have passed both gates at the
//!    first attempt in at least half of five or more recent entries, it is
//!    on trial: asked once, its answer only counted, and the built-in
//!    mirror answers (when in doubt, fall back).
//! 5. The mirrorback and an engine run (duration, patterns, flags) are
//!    stored. Everything sent to a model is in the egress log first.

use std::time::Instant;

use super::gate;
use super::llm::{
    Anthropic, ChatRequest, Completion, LlmAdapter, LlmError, Ollama, OpenAi, Prepared, is_loopback,
};
use super::safety::{self, CRISIS_FLAG, Crisis};
use super::standing::{self, Standing};
use super::{Analysis, Engine, mirror};
use crate::home::EngineConfig;
use crate::model::*;
use crate::store::{Store, StoreError, TensionFindingInput, TensionUpdate};
use mirror_governance::params::EngineParams;

/// Any of the three adapters, chosen by configuration.
#[derive(Debug)]
pub enum AnyAdapter {
    Ollama(Ollama),
    Anthropic(Anthropic),
    OpenAi(OpenAi),
}

impl AnyAdapter {
    /// The adapter for `mode`, or `None` for the built-in mirror.
    pub fn from_config(config: &EngineConfig, mode: EngineMode) -> Option<AnyAdapter> {
        let http = config.http.clone();
        match mode {
            EngineMode::Manual => None,
            EngineMode::Ollama => Some(AnyAdapter::Ollama(Ollama::new(
                &config.ollama.base_url,
                &config.ollama.model,
                &config.ollama.keep_alive,
                http,
            ))),
            EngineMode::Anthropic => Some(AnyAdapter::Anthropic(Anthropic::from_env(
                &config.anthropic.base_url,
                &config.anthropic.model,
                &config.anthropic.api_key_env,
                http,
            ))),
            EngineMode::OpenAi => Some(AnyAdapter::OpenAi(OpenAi::from_env(
                &config.openai.base_url,
                &config.openai.model,
                &config.openai.api_key_env,
                http,
            ))),
        }
    }
}

impl LlmAdapter for AnyAdapter {
    fn engine(&self) -> EngineMode {
        match self {
            AnyAdapter::Ollama(a) => a.engine(),
            AnyAdapter::Anthropic(a) => a.engine(),
            AnyAdapter::OpenAi(a) => a.engine(),
        }
    }

    fn model(&self) -> &str {
        match self {
            AnyAdapter::Ollama(a) => a.model(),
            AnyAdapter::Anthropic(a) => a.model(),
            AnyAdapter::OpenAi(a) => a.model(),
        }
    }

    fn endpoint(&self) -> &str {
        match self {
            AnyAdapter::Ollama(a) => a.endpoint(),
            AnyAdapter::Anthropic(a) => a.endpoint(),
            AnyAdapter::OpenAi(a) => a.endpoint(),
        }
    }

    fn prepare(&self, request: &ChatRequest) -> Prepared {
        match self {
            AnyAdapter::Ollama(a) => a.prepare(request),
            AnyAdapter::Anthropic(a) => a.prepare(request),
            AnyAdapter::OpenAi(a) => a.prepare(request),
        }
    }

    async fn send<'a>(
        &'a self,
        prepared: &'a Prepared,
        sink: &'a mut (dyn FnMut(&str) + Send),
        on_attempt: &'a mut (dyn FnMut(u32) + Send),
    ) -> Result<Completion, LlmError> {
        match self {
            AnyAdapter::Ollama(a) => a.send(prepared, sink, on_attempt).await,
            AnyAdapter::Anthropic(a) => a.send(prepared, sink, on_attempt).await,
            AnyAdapter::OpenAi(a) => a.send(prepared, sink, on_attempt).await,
        }
    }

    async fn health(&self) -> Result<(), LlmError> {
        match self {
            AnyAdapter::Ollama(a) => a.health().await,
            AnyAdapter::Anthropic(a) => a.health().await,
            AnyAdapter::OpenAi(a) => a.health().await,
        }
    }
}

/// What the pipeline reports while it works, for a live display.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A generation attempt starts (1-based).
    Attempt(u32),
    /// Text arrived from the model.
    Text(String),
    /// The attempt's answer broke the constitution and will not be shown.
    Rejected { attempt: u32, flags: Vec<String> },
    /// The built-in mirror is answering instead, and why.
    FellBack(String),
}

/// Knobs for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub max_regenerations: u32,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Ask the model for tension suggestions too (`engine.suggest_tensions`).
    pub suggest_tensions: bool,
    /// The person's region for the crisis answer's helplines (ISO 3166-1
    /// alpha-2): `safety.region`, else the locale's, else none.
    pub region: Option<String>,
}

impl Options {
    /// The node's knobs: the person's config, and for governed values the
    /// pack in force unless the person set their own (the rule: the pack
    /// decides what the commons governs; a value set in config.toml is the
    /// person's override for their own node, and wins).
    pub fn from_config(config: &EngineConfig, params: &EngineParams) -> Options {
        Options {
            max_regenerations: config
                .max_regenerations
                .unwrap_or(params.thresholds.max_regenerations),
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            suggest_tensions: config.suggest_tensions,
            region: None,
        }
    }

    /// With the region for the crisis answer.
    pub fn with_region(mut self, region: Option<String>) -> Options {
        self.region = region;
        self
    }
}

/// A finished mirrorback, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub text: String,
    pub engine_mode: EngineMode,
    pub engine_version: String,
    pub model: Option<String>,
    pub attempts: u32,
    pub fell_back: bool,
    pub flags: Vec<String>,
    pub notes: Vec<String>,
}

/// Everything one reflect did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub reflection: Reflection,
    pub analysis: Analysis,
    pub tensions: TensionUpdate,
    pub mirrorback: Mirrorback,
    pub run: EngineRun,
    pub notes: Vec<String>,
    /// What the crisis check found; when set, the mirrorback is the node's
    /// crisis answer and nothing was analysed.
    pub crisis: Option<Crisis>,
}

fn fill(template: &str, text: &str, analysis: &Analysis) -> String {
    let patterns = analysis.pattern_names();
    let tensions: Vec<String> = analysis
        .tensions
        .iter()
        .map(|t| format!("{} ↔ {}", t.axis_a, t.axis_b))
        .collect();
    let or_none = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ").replace('_', " ")
        }
    };
    template
        .replace("{patterns}", &or_none(patterns))
        .replace("{tensions}", &or_none(tensions))
        .replace("{reflection}", text)
}

/// What the person's recent writing adds to the built-in answer: the same
/// someone written about again, a pattern that keeps coming, a tension
/// they track. Read from the store; nothing leaves the node.
pub fn history(
    store: &Store,
    engine: &Engine,
    reflection: &Reflection,
    analysis: &Analysis,
    tensions: &TensionUpdate,
) -> Result<mirror::History, StoreError> {
    let mut history = mirror::History::default();
    if let Some(evidence) = tensions.evidence.first()
        && let Some(t) = store.get::<Tension>(evidence.tension_id)?
    {
        history.tracked = Some((t.axis_a, t.axis_b));
    }
    if analysis.language.code != "en" {
        return Ok(history);
    }
    const MONTH_MICROS: i64 = 30 * 24 * 3600 * 1_000_000;
    let since = Timestamp::from_micros(reflection.created_at.as_micros() - MONTH_MICROS)
        .unwrap_or(Timestamp::MIN);
    let recent = store.reflections(&crate::store::ReflectionQuery {
        identity: Some(reflection.identity_id),
        since: Some(since),
        limit: 200,
        ..Default::default()
    })?;
    let recent: Vec<&Reflection> = recent.iter().filter(|r| r.id != reflection.id).collect();
    // Someone this entry is about: "my sister", "my boss".
    let lower = reflection.content.to_lowercase();
    let nouns = &engine.params().words.person_nouns;
    let topic = nouns
        .iter()
        .map(|n| format!("my {n}"))
        .filter(|phrase| contains_words(&lower, phrase))
        .max_by_key(|phrase| phrase.len());
    if let Some(phrase) = topic {
        let count = 1 + recent
            .iter()
            .filter(|r| contains_words(&r.content.to_lowercase(), &phrase))
            .count();
        history.topic = Some((phrase.replacen("my ", "your ", 1), count));
    }
    // A pattern of this entry that keeps coming back. Each recent entry's
    // runs are read once, not once per pattern.
    let names = analysis.pattern_names();
    if names.is_empty() {
        return Ok(history);
    }
    let mut counts = vec![1usize; names.len()];
    for r in &recent {
        let runs = store.runs_for(r.id)?;
        for (name, count) in names.iter().zip(counts.iter_mut()) {
            if runs.iter().any(|run| run.patterns.contains(name)) {
                *count += 1;
            }
        }
    }
    for (name, count) in names.into_iter().zip(counts) {
        if worth_saying(count) && history.pattern.as_ref().is_none_or(|(_, c)| count > *c) {
            history.pattern = Some((name, count));
        }
    }
    Ok(history)
}

/// Whether a pattern's count is worth a line: when it first reaches three
/// entries, then every fifth. Said on every entry after the third, the same
/// line became noise, and read beside one entry it was taken for a claim
/// about that entry (blind reviewers marked it unfaithful in 11 of 40
/// answers).
fn worth_saying(count: usize) -> bool {
    count == 3 || (count >= 5 && count.is_multiple_of(5))
}

/// Whether `phrase` occurs in `text` on word boundaries.
fn contains_words(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Write a mirrorback for `text` with `adapter` (or the built-in mirror),
/// under the compliance gate. Never fails: the worst case is the built-in
/// mirror's answer with notes saying why.
pub async fn generate<A: LlmAdapter>(
    engine: &Engine,
    adapter: Option<&A>,
    store: &Store,
    text: &str,
    analysis: &Analysis,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Generated {
    let history = mirror::History::default();
    generate_with(
        engine, adapter, store, text, analysis, &history, options, progress,
    )
    .await
}

/// [`generate`], with what the person's history adds to a built-in answer.
#[allow(clippy::too_many_arguments)]
pub async fn generate_with<A: LlmAdapter>(
    engine: &Engine,
    adapter: Option<&A>,
    store: &Store,
    text: &str,
    analysis: &Analysis,
    history: &mirror::History,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Generated {
    let Some(adapter) = adapter else {
        return Generated {
            text: mirror::mirrorback_with(engine, text, analysis, history),
            engine_mode: EngineMode::Manual,
            engine_version: engine.version(),
            model: None,
            attempts: 1,
            fell_back: false,
            flags: Vec::new(),
            notes: Vec::new(),
        };
    };
    let mut notes = Vec::new();
    let mut flags: Vec<String> = Vec::new();
    let mut attempts = 0;
    let fallback = |notes: Vec<String>, flags: Vec<String>, attempts: u32| Generated {
        text: mirror::mirrorback_with(engine, text, analysis, history),
        engine_mode: adapter.engine(),
        engine_version: engine.version(),
        model: Some(adapter.model().to_string()),
        attempts: attempts.max(1),
        fell_back: true,
        flags,
        notes,
    };

    // Nothing leaves this machine without consent.
    if !is_loopback(adapter.endpoint()) {
        match store.consent_granted(ConsentCategory::RemoteEngine) {
            Ok(true) => {}
            Ok(false) => {
                let note = format!(
                    "{} is not on this machine and sending reflections off it needs your consent (`mirror consent grant remote_engine`); the built-in mirror answered",
                    adapter.endpoint()
                );
                progress(Progress::FellBack(note.clone()));
                return fallback(vec![note], flags, 0);
            }
            Err(e) => {
                let note = format!("could not read consent ({e}); the built-in mirror answered");
                progress(Progress::FellBack(note.clone()));
                return fallback(vec![note], flags, 0);
            }
        }
    }

    let params = engine.params();
    let user = fill(&params.prompts.user, text, analysis);
    let examples: Vec<(String, String)> = params
        .prompts
        .examples
        .iter()
        .map(|e| {
            (
                fill(&params.prompts.user, &e.entry, &Analysis::default()),
                e.mirrorback.clone(),
            )
        })
        .collect();
    let max_chars = params.thresholds.max_mirrorback_chars;
    // Trust is earned (see `standing`): an unproven model gets one attempt,
    // which counts towards its record, and the built-in mirror answers.
    let standing = match store.list::<Mirrorback>(standing::SCAN) {
        Ok(newest) => Standing::of(&newest, adapter.engine(), adapter.model()),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the model's record; treated as unproven");
            Standing::default()
        }
    };
    let regenerations = if standing.proven() {
        options.max_regenerations
    } else {
        0
    };
    let mut violations = String::new();
    for attempt in 1..=regenerations + 1 {
        attempts = attempt;
        progress(Progress::Attempt(attempt));
        let system = if attempt == 1 {
            params.prompts.system.clone()
        } else {
            format!(
                "{}\n\n{}",
                params.prompts.system.trim_end(),
                params.prompts.stricter.replace("{violations}", &violations)
            )
        };
        let request = ChatRequest {
            system,
            examples: examples.clone(),
            user: user.clone(),
            max_tokens: options.max_tokens,
            temperature: options.temperature,
            schema: None,
        };
        let prepared = adapter.prepare(&request);
        // The egress log records what leaves, before it leaves; if it cannot
        // be written, nothing is sent.
        let record = |http_attempt: u32| EgressRecord {
            id: Id::new(),
            kind: EgressKind::LlmRequest,
            destination: prepared.url.clone(),
            bytes: prepared.body.len() as u64,
            content_hash: blake3::hash(&prepared.body).to_hex().to_string(),
            summary: format!(
                "mirrorback request to {} ({}), generation {attempt}, try {http_attempt}",
                adapter.model(),
                adapter.engine()
            ),
            at: Timestamp::now(),
        };
        if let Err(e) = store.log_egress(&record(1)) {
            let note = format!(
                "the egress log could not be written ({e}), so nothing was sent; the built-in mirror answered"
            );
            progress(Progress::FellBack(note.clone()));
            notes.push(note);
            return fallback(notes, flags, attempts);
        }
        let mut on_attempt = |n: u32| {
            if n > 1
                && let Err(e) = store.log_egress(&record(n))
            {
                tracing::error!(error = %e, "egress log write failed for a retry");
            }
        };
        // On trial the answer is only counted, so the person never sees it
        // stream by before the built-in mirror's answer replaces it.
        let trusted = standing.proven();
        let mut sink = |piece: &str| {
            if trusted {
                progress(Progress::Text(piece.to_string()))
            }
        };
        let started = Instant::now();
        let result = adapter.send(&prepared, &mut sink, &mut on_attempt).await;
        tracing::info!(
            engine = %adapter.engine(),
            attempt,
            ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "engine answered"
        );
        let completion = match result {
            Ok(c) => c,
            Err(e) => {
                let note = format!(
                    "{} ({}) failed: {e}; the built-in mirror answered",
                    adapter.engine(),
                    adapter.model()
                );
                progress(Progress::FellBack(note.clone()));
                notes.push(note);
                if !flags.contains(&"engine_error".to_string()) {
                    flags.push("engine_error".into());
                }
                return fallback(notes, flags, attempts);
            }
        };
        let answer = completion.text.trim().to_string();
        let mut attempt_flags: Vec<String> = Vec::new();
        if answer.is_empty() {
            attempt_flags.push("empty_answer".into());
            violations = "was empty".into();
        } else if answer.chars().count() > max_chars {
            attempt_flags.push("too_long".into());
            violations = format!("was longer than {max_chars} characters");
        } else {
            let report = engine.checker().check(&answer);
            // The second gate: a reflection to this person on this entry.
            let failures = if report.is_compliant() {
                gate::check(engine, text, &answer, &gate::Limits::default())
            } else {
                Vec::new()
            };
            if report.is_compliant() && failures.is_empty() && !standing.proven() {
                // On trial: the answer counts towards the model's record
                // (a fallback flagged only `unproven_model` is a pass), and
                // the built-in mirror answers.
                flags.push(standing::UNPROVEN_FLAG.into());
                let note = format!(
                    "{} is on trial, so the built-in mirror answered; its answer passed the gates and counts towards its record ({})",
                    adapter.model(),
                    standing.describe()
                );
                progress(Progress::FellBack(note.clone()));
                notes.push(note);
                return fallback(notes, flags, attempts);
            }
            if report.is_compliant() && failures.is_empty() {
                return Generated {
                    text: answer,
                    engine_mode: adapter.engine(),
                    engine_version: format!("{}+{}", adapter.engine(), engine.version()),
                    model: Some(adapter.model().to_string()),
                    attempts,
                    fell_back: false,
                    flags,
                    notes,
                };
            }
            if report.is_compliant() {
                attempt_flags.extend(failures.iter().map(|f| f.check.as_str().to_string()));
                violations = failures
                    .iter()
                    .map(gate::Failure::reason)
                    .collect::<Vec<_>>()
                    .join("; and it ");
            } else {
                attempt_flags.extend(report.flag_names().into_iter().map(String::from));
                violations = format!("broke the Mirror's constitution ({})", report.describe());
            }
        }
        progress(Progress::Rejected {
            attempt,
            flags: attempt_flags.clone(),
        });
        for f in attempt_flags {
            if !flags.contains(&f) {
                flags.push(f);
            }
        }
    }
    let note = if standing.proven() {
        format!(
            "{} did not give a compliant answer in {attempts} attempts; the built-in mirror answered",
            adapter.model()
        )
    } else {
        flags.push(standing::UNPROVEN_FLAG.into());
        format!(
            "{} is on trial and its answer did not pass the gates; the built-in mirror answered ({})",
            adapter.model(),
            standing.describe()
        )
    };
    progress(Progress::FellBack(note.clone()));
    notes.push(note);
    fallback(notes, flags, attempts)
}

/// Ask the model for the tensions the rules did not find, in structured
/// output ([`super::suggest`]): consent checked and the request in the
/// egress log first, like a mirrorback. What comes back is validated
/// against the pack's axes and the entry; an error only costs the
/// suggestions.
pub async fn suggest_tensions<A: LlmAdapter>(
    engine: &Engine,
    adapter: &A,
    store: &Store,
    text: &str,
    analysis: &Analysis,
    options: &Options,
) -> Result<Vec<TensionFindingInput>, String> {
    if !is_loopback(adapter.endpoint())
        && !store
            .consent_granted(ConsentCategory::RemoteEngine)
            .map_err(|e| e.to_string())?
    {
        return Ok(Vec::new());
    }
    let request = super::suggest::request(engine, text, options.max_tokens);
    let prepared = adapter.prepare(&request);
    let answer = match send_logged(adapter, store, &prepared).await {
        // llama-cpp-python's server knows OpenAI's older form only
        // (`json_object` with a `schema`), and refuses `json_schema` (with
        // a 500 naming `response_format`; others answer 400 or 422).
        Err(e)
            if adapter.engine() == EngineMode::OpenAi
                && (matches!(
                    e,
                    LlmError::Http {
                        status: 400 | 422,
                        ..
                    }
                ) || e.to_string().contains("response_format")) =>
        {
            let mut body: serde_json::Value =
                serde_json::from_slice(&prepared.body).map_err(|e| e.to_string())?;
            body["response_format"] =
                serde_json::json!({"type": "json_object", "schema": request.schema});
            let older = Prepared {
                url: prepared.url.clone(),
                body: body.to_string().into_bytes(),
            };
            send_logged(adapter, store, &older).await
        }
        other => other,
    }
    .map_err(|e| e.to_string())?;
    let known: Vec<(String, String)> = analysis
        .tensions
        .iter()
        .map(|t| (t.axis_a.clone(), t.axis_b.clone()))
        .collect();
    Ok(super::suggest::parse(engine, text, &answer, &known))
}

/// Send a structured request, every try in the egress log before it leaves.
async fn send_logged<A: LlmAdapter>(
    adapter: &A,
    store: &Store,
    prepared: &Prepared,
) -> Result<String, LlmError> {
    let record = |http_attempt: u32| EgressRecord {
        id: Id::new(),
        kind: EgressKind::LlmRequest,
        destination: prepared.url.clone(),
        bytes: prepared.body.len() as u64,
        content_hash: blake3::hash(&prepared.body).to_hex().to_string(),
        summary: format!(
            "tension suggestions request to {} ({}), try {http_attempt}",
            adapter.model(),
            adapter.engine()
        ),
        at: Timestamp::now(),
    };
    // Nothing leaves unlogged.
    store
        .log_egress(&record(1))
        .map_err(|e| LlmError::Protocol(format!("the egress log could not be written ({e})")))?;
    let mut on_attempt = |n: u32| {
        if n > 1
            && let Err(e) = store.log_egress(&record(n))
        {
            tracing::error!(error = %e, "egress log write failed for a retry");
        }
    };
    let mut sink = |_: &str| {};
    let completion = adapter.send(prepared, &mut sink, &mut on_attempt).await?;
    Ok(completion.text)
}

/// The node's own answer to an entry in crisis (see [`safety`]).
pub fn crisis_answer(engine: &Engine, text: &str, crisis: &Crisis, options: &Options) -> String {
    let language = engine.language(text);
    let resources = engine.safety_resources(options.region.as_deref());
    safety::answer(
        &engine.params().languages,
        &language.code,
        crisis,
        resources,
    )
}

/// The whole pipeline for one new reflection (see the module docs).
pub async fn reflect<A: LlmAdapter>(
    store: &Store,
    engine: &Engine,
    adapter: Option<&A>,
    reflection: Reflection,
    thread: Option<Id>,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, StoreError> {
    store.insert_reflection(&reflection, thread)?;
    answer_stored(
        store,
        engine,
        adapter,
        reflection,
        Tensions::Record,
        options,
        progress,
    )
    .await
}

/// Whether answering a reflection also records what it says about the
/// tensions: yes the first time, not when a mirrorback is made again (the
/// evidence is there already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tensions {
    Record,
    AlreadyRecorded,
}

/// Answer a reflection that is already stored: a new one, one written with
/// `--no-mirror`, or one whose mirrorback is made again (`mirror
/// mirrorback ID`). Each answer is a new mirrorback and engine run; earlier
/// ones stay.
pub async fn answer_stored<A: LlmAdapter>(
    store: &Store,
    engine: &Engine,
    adapter: Option<&A>,
    reflection: Reflection,
    tensions_mode: Tensions,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome, StoreError> {
    let started = Instant::now();
    // Safety first: before any analysis, and before any model.
    if let Some(crisis) = engine.crisis(&reflection.content) {
        let text = crisis_answer(engine, &reflection.content, &crisis, options);
        let now = Timestamp::now();
        let flags = vec![CRISIS_FLAG.to_string()];
        let mirrorback = Mirrorback {
            id: Id::new(),
            reflection_id: reflection.id,
            text,
            engine_mode: EngineMode::Manual,
            engine_version: engine.version(),
            model: None,
            attempts: 1,
            fell_back: false,
            flags: flags.clone(),
            created_at: now,
        };
        let run = EngineRun {
            id: Id::new(),
            reflection_id: reflection.id,
            mode: EngineMode::Manual,
            model: None,
            duration_ms: started.elapsed().as_millis() as u64,
            patterns: Vec::new(),
            flags,
            // Never offered to the commons, whatever the consent.
            sync_allowed: false,
            created_at: now,
        };
        store.insert_answer(&mirrorback, &run)?;
        tracing::info!(reflection = %reflection.id, "crisis check answered");
        return Ok(Outcome {
            analysis: Analysis {
                language: engine.language(&reflection.content),
                ..Analysis::default()
            },
            reflection,
            tensions: TensionUpdate::default(),
            mirrorback,
            run,
            notes: vec![
                "The crisis check answered: nothing was analysed and nothing was sent anywhere."
                    .into(),
            ],
            crisis: Some(crisis),
        });
    }
    let analysis = engine.analyze(&reflection.content);
    let findings: Vec<TensionFindingInput> = analysis
        .tensions
        .iter()
        .map(|t| TensionFindingInput {
            name: t.name.clone(),
            axis_a: t.axis_a.clone(),
            axis_b: t.axis_b.clone(),
            position: t.position,
            intensity: t.intensity,
            evidence: t.evidence.chars().take(4000).collect(),
        })
        .collect();
    let tensions = match tensions_mode {
        Tensions::Record => {
            store.record_tension_findings(reflection.identity_id, reflection.id, &findings)?
        }
        Tensions::AlreadyRecorded => TensionUpdate::default(),
    };
    let history = history(store, engine, &reflection, &analysis, &tensions)?;
    let generated = generate_with(
        engine,
        adapter,
        store,
        &reflection.content,
        &analysis,
        &history,
        options,
        progress,
    )
    .await;
    // The model's tension suggestions, when a model answered.
    let mut tensions = tensions;
    let mut notes = generated.notes.clone();
    if let Some(adapter) = adapter
        && options.suggest_tensions
        && !generated.flags.iter().any(|f| f == "engine_error")
    {
        match suggest_tensions(
            engine,
            adapter,
            store,
            &reflection.content,
            &analysis,
            options,
        )
        .await
        {
            Ok(found) if !found.is_empty() => {
                let update =
                    store.record_tension_findings(reflection.identity_id, reflection.id, &found)?;
                tensions.evidence.extend(update.evidence);
                tensions.suggestions.extend(update.suggestions);
            }
            Ok(_) => {}
            Err(e) => notes.push(format!("no tension suggestions from the model ({e})")),
        }
    }
    let now = Timestamp::now();
    let mirrorback = Mirrorback {
        id: Id::new(),
        reflection_id: reflection.id,
        // A reflection of any accepted length gets its answer: a quote of
        // a very long one is cut to what a mirrorback may hold.
        text: fit_text(generated.text, MAX_MIRRORBACK_CHARS),
        engine_mode: generated.engine_mode,
        engine_version: generated.engine_version,
        model: generated.model.clone(),
        attempts: generated.attempts,
        fell_back: generated.fell_back,
        flags: generated.flags.clone(),
        created_at: now,
    };
    let run = EngineRun {
        id: Id::new(),
        reflection_id: reflection.id,
        mode: generated.engine_mode,
        model: generated.model,
        duration_ms: started.elapsed().as_millis() as u64,
        patterns: analysis.pattern_names(),
        flags: generated.flags,
        sync_allowed: store.consent_granted(ConsentCategory::EvolutionFeedback)?,
        created_at: now,
    };
    // The answer and its run land together: one durable commit, not two.
    store.insert_answer(&mirrorback, &run)?;
    Ok(Outcome {
        reflection,
        analysis,
        tensions,
        mirrorback,
        run,
        notes,
        crisis: None,
    })
}
