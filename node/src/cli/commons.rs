//! `mirror node` and `mirror commons …`.
//!
//! Commons commands ask the running daemon when there is one (it owns the
//! commons store) and read the store directly when there is not.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{CommonsCommand, Context, NodeArgs, Output, UsageError};
use crate::daemon::{self, NodeOptions};

pub fn node(ctx: &Context, args: &NodeArgs) -> anyhow::Result<Output> {
    if let Some(running) = daemon::find(&ctx.home) {
        anyhow::bail!(
            "a node is already running from {} (pid {})",
            ctx.home.dir().display(),
            running.pid
        );
    }
    // `--ui`: the web app beside the node, on its own runtime; it stops
    // when the node does (dropped at the end of this function).
    let web = args
        .ui
        .then(|| crate::web::start(ctx.home.clone(), 0))
        .transpose()?;
    daemon::run(
        &ctx.home,
        &NodeOptions {
            listen: args.listen.clone(),
            bootstrap: args.bootstrap.clone(),
            no_mdns: args.no_mdns,
            web_url: web.as_ref().map(|w| w.url.clone()),
        },
    )?;
    Output::new(json!({"stopped": true}), "")
}

pub fn commons(ctx: &Context, cmd: &CommonsCommand) -> anyhow::Result<Output> {
    let running = daemon::find(&ctx.home);
    match cmd {
        CommonsCommand::Genesis(g) => super::governance::genesis(ctx, g),
        CommonsCommand::Join { file } => super::governance::join(ctx, file),
        CommonsCommand::List => super::governance::list_commons(ctx),
        CommonsCommand::Use { id } => super::governance::use_commons(ctx, id),
        CommonsCommand::Telemetry { period } => super::telemetry::commons_telemetry(ctx, *period),
        CommonsCommand::Status => {
            let v = match &running {
                Some(d) => daemon::call(d, "GET", "/status", None)?,
                None => daemon::status_json(&daemon::open_local(&ctx.home)?, None, &[]),
            };
            let mut text = String::new();
            let _ = writeln!(text, "commons   {}", v["commons_id"].as_str().unwrap_or(""));
            let _ = writeln!(
                text,
                "daemon    {}",
                match v["peers"].as_u64() {
                    Some(n) => format!("running, {n} peer(s)"),
                    None => "not running (`mirror node` starts it)".into(),
                }
            );
            for a in v["listening"].as_array().into_iter().flatten() {
                let _ = writeln!(text, "listening {}", a.as_str().unwrap_or(""));
            }
            let _ = writeln!(text, "records   {}", v["records"]);
            if let Some(kinds) = v["records_by_kind"].as_object() {
                for (k, n) in kinds {
                    let _ = writeln!(text, "  {k:<24}{n}");
                }
            }
            let docs: Vec<&str> = v["documents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let _ = writeln!(
                text,
                "documents {}",
                if docs.is_empty() {
                    "none".into()
                } else {
                    docs.join(", ")
                }
            );
            if let Some(rej) = v["rejections"].as_object().filter(|r| !r.is_empty()) {
                let _ = writeln!(text, "rejected");
                for (peer, reasons) in rej {
                    let _ = writeln!(text, "  {peer}: {reasons}");
                }
            }
            Output::new(&v, text.trim_end().to_string())
        }
        CommonsCommand::Peers => {
            let Some(d) = &running else {
                return Output::new(
                    json!({"connected": [], "banned": []}),
                    "no daemon running, so no peers (`mirror node` starts it)",
                );
            };
            let connected = daemon::call(d, "GET", "/peers", None)?;
            let banned = daemon::call(d, "GET", "/banned", None)?;
            let mut text = String::new();
            for p in connected.as_array().into_iter().flatten() {
                let _ = writeln!(
                    text,
                    "{}  score {:.1}  strikes {}  rejected {}  {}",
                    p["peer_id"].as_str().unwrap_or(""),
                    p["score"].as_f64().unwrap_or(0.0),
                    p["strikes"],
                    p["rejections"],
                    p["addresses"]
                        .as_array()
                        .and_then(|a| a.first())
                        .and_then(Value::as_str)
                        .unwrap_or("")
                );
            }
            if text.is_empty() {
                text = "no peers connected\n".into();
            }
            for b in banned.as_array().into_iter().flatten() {
                let _ = writeln!(
                    text,
                    "banned {}  ({})",
                    b["peer_id"].as_str().unwrap_or(""),
                    b["reason"].as_str().unwrap_or("")
                );
            }
            let v = json!({"connected": connected, "banned": banned});
            Output::new(&v, text.trim_end().to_string())
        }
        CommonsCommand::Records { kind } => {
            let parsed = match kind.as_deref() {
                Some(k) => Some(mirror_commons::record::Kind::parse(k).ok_or_else(|| {
                    UsageError(format!(
                        "unknown record kind {k:?}; kinds: {}",
                        mirror_commons::record::Kind::ALL
                            .map(|k| k.as_str())
                            .join(", ")
                    ))
                })?),
                None => None,
            };
            let v = match &running {
                Some(d) => daemon::call(
                    d,
                    "GET",
                    &match parsed {
                        Some(k) => format!("/records?kind={}", k.as_str()),
                        None => "/records".into(),
                    },
                    None,
                )?,
                None => daemon::records_json(&daemon::open_local(&ctx.home)?, parsed),
            };
            let mut text = String::new();
            for r in v.as_array().into_iter().flatten() {
                let _ = writeln!(
                    text,
                    "{}  {:<22} {}",
                    &r["id"].as_str().unwrap_or("")[..16.min(r["id"].as_str().unwrap_or("").len())],
                    r["kind"].as_str().unwrap_or(""),
                    r["created_at"]
                );
            }
            if text.is_empty() {
                text = "no records".into();
            }
            Output::new(json!({ "records": v }), text.trim_end().to_string())
        }
        CommonsCommand::Show { id } => {
            // A prefix, as `commons records` shows them, names the record.
            let id = &if id.len() == 64 {
                id.clone()
            } else {
                let all = match &running {
                    Some(d) => daemon::call(d, "GET", "/records", None)?,
                    None => daemon::records_json(&daemon::open_local(&ctx.home)?, None),
                };
                let ids: Vec<String> = all
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["id"].as_str().map(str::to_string))
                    .collect();
                ids[super::resolve_prefix(id, &ids, "record id")?].clone()
            };
            let v = match &running {
                Some(d) => daemon::call(d, "GET", &format!("/records/{id}"), None)?,
                None => daemon::record_json(&daemon::open_local(&ctx.home)?, id)
                    .map_err(UsageError)?
                    .ok_or_else(|| anyhow::anyhow!("no accepted record {id}"))?,
            };
            let text = serde_json::to_string_pretty(&v)?;
            Output::new(&v, text)
        }
        CommonsCommand::Publish { file } => {
            let bytes = std::fs::read(file)
                .map_err(|e| UsageError(format!("reading {}: {e}", file.display())))?;
            let id = match &running {
                Some(d) => daemon::call(d, "POST", "/publish", Some(bytes))?["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                None => {
                    let mut c = daemon::open_local(&ctx.home)?;
                    let (id, _) = c
                        .publish(&bytes, daemon::now_ms())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    id.to_hex()
                }
            };
            let how = if running.is_some() {
                "accepted and gossiped"
            } else {
                "accepted locally; peers receive it when `mirror node` next syncs"
            };
            Output::new(json!({"id": id}), format!("{id}  {how}"))
        }
    }
}
