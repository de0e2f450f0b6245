//! The one thread that runs commands for the web app.
//!
//! Every page is a command of the CLI run in-process (`cli::run_in`), so
//! the web app validates, stores, answers a crisis and marks damage exactly
//! as `mirror` does: no logic is written twice. Commands run one at a time
//! on this thread because the store is one redb file a process may open
//! only once at a time, and because the engine's pipeline builds its own
//! tokio runtime (which cannot start inside the server's).

use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::cli::{self, Cli, Command, Context, LiveSink, Output};
use crate::home::Home;

/// A command that failed, as a person should read it.
#[derive(Debug, Clone)]
pub struct Failed {
    /// One line, as the CLI prints it.
    pub message: String,
    /// The person's input was at fault (the CLI's exit code 2).
    pub usage: bool,
}

type Job = (
    Command,
    Option<LiveSink>,
    oneshot::Sender<Result<Output, Failed>>,
);

/// A handle to the command thread; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    /// Start the thread for `home`. It ends when every handle is dropped.
    pub fn start(home: Home) -> anyhow::Result<Worker> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        // JSON mode: no spinner, no live stream and no prompt may reach
        // the terminal `mirror ui` runs at.
        let ctx = Context::with_home(home, true)?;
        std::thread::Builder::new()
            .name("mirror-web-commands".into())
            .spawn(move || {
                for (command, live, reply) in inbox {
                    ctx.stream_to(live);
                    let cli = Cli {
                        data_dir: None,
                        json: true,
                        verbose: 0,
                        command,
                    };
                    let result = cli::run_in(&ctx, &cli).map_err(|e| Failed {
                        message: cli::error_line(&e),
                        usage: cli::exit_code(&e) == 2,
                    });
                    ctx.stream_to(None);
                    let _ = reply.send(result);
                    // Once the answer is on its way: the daily backup, as
                    // after a CLI command (a failure is logged, never shown
                    // as the command's). The next command waits for it.
                    if let Err(e) = ctx.after_answer() {
                        tracing::warn!("daily backup: {}", cli::error_line(&e));
                    }
                }
            })?;
        Ok(Worker { jobs })
    }

    /// Run one command and wait for its answer.
    pub async fn run(&self, command: Command) -> Result<Output, Failed> {
        self.run_live(command, None).await
    }

    /// Run one command, sending what of a streaming answer may be shown
    /// to `live` as it arrives.
    pub async fn run_live(
        &self,
        command: Command,
        live: Option<LiveSink>,
    ) -> Result<Output, Failed> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Failed {
            message: "the command thread stopped".into(),
            usage: false,
        };
        self.jobs
            .send((command, live, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
