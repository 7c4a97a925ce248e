//! A small HTTP/1.1 server on 127.0.0.1 for tests of fetching, shared by the unit tests in
//! src/fetch.rs and the integration tests: it serves fixed files, counts requests per path, and
//! can misbehave (announce more bytes than it sends, or send them slowly).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the server serves and has seen.
#[derive(Default)]
struct ServerState {
    files: HashMap<String, Vec<u8>>,
    /// Paths answered with a Content-Length larger than the body.
    truncated: HashSet<String>,
    /// Paths whose body is sent slowly, in small pieces.
    slow: HashSet<String>,
    hits: HashMap<String, usize>,
}

/// One thread per connection, each connection closed after one response.
pub struct Server {
    pub base: String,
    state: Arc<Mutex<ServerState>>,
}

impl Server {
    pub fn start(files: Vec<(&str, Vec<u8>)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        let server = Server { base, state };
        for (path, bytes) in files {
            server.put(path, &bytes);
        }
        server
    }

    pub fn put(&self, path: &str, data: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state.files.insert(path.to_string(), data.to_vec());
    }

    pub fn truncate(&self, path: &str) {
        let mut state = self.state.lock().unwrap();
        state.truncated.insert(path.to_string());
    }

    pub fn slow(&self, path: &str) {
        self.state.lock().unwrap().slow.insert(path.to_string());
    }

    pub fn hits(&self, path: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.hits.get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn serve(stream: TcpStream, state: &Mutex<ServerState>) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let (body, truncated, slow) = {
        let mut state = state.lock().unwrap();
        *state.hits.entry(path.clone()).or_default() += 1;
        (
            state.files.get(&path).cloned(),
            state.truncated.contains(&path),
            state.slow.contains(&path),
        )
    };
    let mut out = stream;
    match body {
        None => {
            out.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
        Some(body) => {
            let announced = if truncated {
                body.len() + 1000
            } else {
                body.len()
            };
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {announced}\r\nConnection: close\r\n\r\n"
            )?;
            if slow {
                for piece in body.chunks(body.len().div_ceil(10).max(1)) {
                    out.write_all(piece)?;
                    out.flush()?;
                    thread::sleep(Duration::from_millis(30));
                }
            } else {
                out.write_all(&body)?;
            }
        }
    }
    out.flush()?;
    out.shutdown(std::net::Shutdown::Both)
}
