//! A scripted HTTP/1.1 server on 127.0.0.1 for testing the LLM adapters
//! against the exact bytes a real server sends.
//!
//! Each [`Reply`] is written step by step: a status line and headers, then
//! body pieces as separate HTTP chunks with optional pauses between them, so
//! a test can split a JSON line (or a UTF-8 character) across reads, stall a
//! stream, or cut the connection mid-answer. Every request received is
//! recorded for the test to inspect.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Step {
    /// One HTTP chunk with these bytes.
    Chunk(Vec<u8>),
    Pause(Duration),
    /// Drop the connection without finishing the body.
    Cut,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub steps: Vec<Step>,
    /// Wait this long before sending even the status line.
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            steps: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn chunk(mut self, bytes: impl AsRef<[u8]>) -> Reply {
        self.steps.push(Step::Chunk(bytes.as_ref().to_vec()));
        self
    }

    /// The body split into pieces at the given byte offsets.
    pub fn split(mut self, body: &[u8], cuts: &[usize]) -> Reply {
        let mut last = 0;
        for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
            if cut > last {
                self.steps.push(Step::Chunk(body[last..cut].to_vec()));
                last = cut;
            }
        }
        self
    }

    pub fn pause(mut self, ms: u64) -> Reply {
        self.steps.push(Step::Pause(Duration::from_millis(ms)));
        self
    }

    pub fn cut(mut self) -> Reply {
        self.steps.push(Step::Cut);
        self
    }

    pub fn delay(mut self, ms: u64) -> Reply {
        self.delay = Duration::from_millis(ms);
        self
    }

    pub fn json(status: u16, body: &str) -> Reply {
        Reply::new(status)
            .header("content-type", "application/json")
            .chunk(body)
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

pub struct Server {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serve `replies` in order, one per request, on a fresh port. Requests
    /// beyond the script get a 500.
    pub async fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(replies.into_iter()));
        let seen_task = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen_task.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, seen, script).await;
                });
            }
        });
        Server { url, seen, task }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Seen>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(Some(Seen {
        method,
        path,
        headers,
        body,
    }))
}

async fn serve(
    mut stream: TcpStream,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<std::vec::IntoIter<Reply>>>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    while let Some(request) = read_request(&mut stream).await? {
        seen.lock().unwrap().push(request);
        let reply = script
            .lock()
            .unwrap()
            .next()
            .unwrap_or_else(|| Reply::json(500, r#"{"error":{"message":"script exhausted"}}"#));
        tokio::time::sleep(reply.delay).await;
        let reason = match reply.status {
            200 => "OK",
            400 => "Bad Request",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            _ => "Status",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\ntransfer-encoding: chunked\r\n",
            reply.status
        );
        for (n, v) in &reply.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.flush().await?;
        for step in reply.steps {
            match step {
                Step::Chunk(bytes) => {
                    stream
                        .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
                        .await?;
                    stream.write_all(&bytes).await?;
                    stream.write_all(b"\r\n").await?;
                    stream.flush().await?;
                    // Let the client read each piece on its own.
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                Step::Pause(d) => tokio::time::sleep(d).await,
                Step::Cut => {
                    stream.shutdown().await?;
                    return Ok(());
                }
            }
        }
        stream.write_all(b"0\r\n\r\n").await?;
        stream.flush().await?;
    }
    Ok(())
}
