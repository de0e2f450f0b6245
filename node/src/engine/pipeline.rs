//! The reflection pipeline: what happens when a person writes.
//!
//! 1. The reflection is stored durably, before anything else can fail.
//! 2. The engine finds patterns and tensions; tensions become evidence for
//!    what the person already tracks, or suggestions.
//! 3. A mirrorback is written by the configured engine. A language model's
//!    answer must pass the compliance checker; if it does not, it is
//!    regenerated with a stricter instruction naming what was wrong, up to
//!    `max_regenerations` times. If it still fails, or the model cannot be
//!    reached, or is off this machine without the person's consent, the
//!    built-in mirror answers instead. The reflection is never lost.
//! 4. The mirrorback and an engine run (duration, patterns, flags) are
//!    stored. Everything sent to a model is in the egress log first.

use std::time::Instant;

use super::llm::{
    Anthropic, ChatRequest, Completion, LlmAdapter, LlmError, Ollama, OpenAi, Prepared, is_loopback,
};
use super::{Analysis, Engine, mirror};
use crate::home::EngineConfig;
use crate::model::*;
use crate::store::{Store, StoreError, TensionFindingInput, TensionUpdate};

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
}

impl Options {
    pub fn from_config(config: &EngineConfig) -> Options {
        Options {
            max_regenerations: config.max_regenerations,
            temperature: config.temperature,
            max_tokens: config.max_tokens,
        }
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

fn builtin(engine: &Engine, text: &str, analysis: &Analysis) -> String {
    mirror::mirrorback(engine, text, analysis)
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
    let Some(adapter) = adapter else {
        return Generated {
            text: builtin(engine, text, analysis),
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
        text: builtin(engine, text, analysis),
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
    let max_chars = params.thresholds.max_mirrorback_chars;
    let mut violations = String::new();
    for attempt in 1..=options.max_regenerations + 1 {
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
            user: user.clone(),
            max_tokens: options.max_tokens,
            temperature: options.temperature,
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
        let mut sink = |piece: &str| progress(Progress::Text(piece.to_string()));
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
            if report.is_compliant() {
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
            attempt_flags.extend(report.flag_names().into_iter().map(String::from));
            violations = format!("broke the Mirror's constitution ({})", report.describe());
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
    let note = format!(
        "{} did not give a compliant answer in {attempts} attempts; the built-in mirror answered",
        adapter.model()
    );
    progress(Progress::FellBack(note.clone()));
    notes.push(note);
    fallback(notes, flags, attempts)
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
    let started = Instant::now();
    store.insert_reflection(&reflection, thread)?;
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
    let tensions =
        store.record_tension_findings(reflection.identity_id, reflection.id, &findings)?;
    let generated = generate(
        engine,
        adapter,
        store,
        &reflection.content,
        &analysis,
        options,
        progress,
    )
    .await;
    let now = Timestamp::now();
    let mirrorback = Mirrorback {
        id: Id::new(),
        reflection_id: reflection.id,
        text: generated.text,
        engine_mode: generated.engine_mode,
        engine_version: generated.engine_version,
        model: generated.model.clone(),
        attempts: generated.attempts,
        fell_back: generated.fell_back,
        flags: generated.flags.clone(),
        created_at: now,
    };
    store.insert_mirrorback(&mirrorback)?;
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
    store.insert_engine_run(&run)?;
    Ok(Outcome {
        reflection,
        analysis,
        tensions,
        mirrorback,
        run,
        notes: generated.notes,
    })
}
