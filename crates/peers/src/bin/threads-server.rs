//! threads-server: a thread per client, std only, as the Rust Book's last
//! chapter first builds its web server. Each thread blocks in `read` on
//! its own client; the kernel's scheduler is the event loop.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::thread;

use peers::{accept_failed, arguments, cannot_listen, reply_to};

// ANCHOR: threads
fn main() -> ExitCode {
    let path = match arguments(&[]) {
        Ok((path, _)) => path,
        Err(code) => return code,
    };
    let listener = match UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(error) => return cannot_listen(&path, error),
    };
    for stream in listener.incoming() {
        match stream {
            // One thread per client, for as long as it stays.
            Ok(stream) => {
                thread::spawn(move || answer(stream));
            }
            Err(error) => accept_failed(error),
        }
    }
    ExitCode::SUCCESS
}

/// Answers each byte with the next one until the client hangs up.
fn answer(mut stream: UnixStream) {
    let mut byte = [0u8; 1];
    while let Ok(1) = stream.read(&mut byte) {
        byte[0] = reply_to(byte[0]);
        if stream.write_all(&byte).is_err() {
            return;
        }
    }
}
// ANCHOR_END: threads
