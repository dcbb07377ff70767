//! tokio-server: the same protocol with tokio, on its current-thread
//! runtime (one thread, as `#[tokio::main(flavor = "current_thread")]`
//! builds) or its multi-thread runtime (a worker per core, as plain
//! `#[tokio::main]` builds). Underneath, tokio's reactor is an epoll loop.

use std::io;
use std::process::ExitCode;

use peers::{accept_failed, arguments, cannot_listen, reply_to};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::runtime::{Builder, Runtime};

fn main() -> ExitCode {
    let (path, runtime) = match arguments(&["current-thread", "multi-thread"]) {
        Ok(chosen) => chosen,
        Err(code) => return code,
    };
    let runtime: io::Result<Runtime> = match runtime {
        Some("multi-thread") => Builder::new_multi_thread().enable_io().build(),
        _ => Builder::new_current_thread().enable_io().build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{}: cannot start tokio: {error}", peers::program());
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match UnixListener::bind(&path) {
            Ok(listener) => serve(listener).await,
            Err(error) => cannot_listen(&path, error),
        }
    })
}

// ANCHOR: tokio
/// Accepts clients for ever, each served by a task of its own.
async fn serve(listener: UnixListener) -> ExitCode {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream));
            }
            Err(error) => accept_failed(error),
        }
    }
}

/// Answers each byte with the next one until the client hangs up.
async fn answer(mut stream: UnixStream) {
    let mut byte = [0u8; 1];
    while let Ok(1) = stream.read(&mut byte).await {
        byte[0] = reply_to(byte[0]);
        if stream.write_all(&byte).await.is_err() {
            return;
        }
    }
}
// ANCHOR_END: tokio
