//! The one way the course's tools read a program's output: line by line,
//! by a thread, as it comes, each line stamped with when it came. The
//! stage tests, the exercise checks and xtask's demo all read through it.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Instant;

/// A line a program wrote, without its newline, and when it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub at: Instant,
    pub text: String,
}

/// Reads `stream` line by line in a thread until it ends (every process
/// that shares it has closed it). Bytes that are not UTF-8 are shown as
/// `�`, never the end of reading: a program that writes them must not be
/// left blocked on a full pipe.
pub fn lines_of(stream: impl Read + Send + 'static) -> Receiver<Line> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            // EINTR is retried inside read_until.
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    let at = Instant::now();
                    if sender.send(Line { at, text }).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}

/// One of a program's output streams, as a test takes it: the lines come
/// from [`lines_of`], and every one that came is kept, in order.
pub struct Lines {
    receiver: Receiver<Line>,
    /// Every line received so far, in order.
    all: Vec<String>,
    /// How many of `all` have been taken.
    taken: usize,
    /// Every process that shared the stream has closed it.
    ended: bool,
}

/// What the next line of a stream is.
pub enum Next {
    Line(String),
    /// The stream ended: nobody writes it any more.
    Ended,
    /// Nothing came in time.
    Nothing,
}

impl Lines {
    pub fn of(stream: impl Read + Send + 'static) -> Lines {
        Lines {
            receiver: lines_of(stream),
            all: Vec::new(),
            taken: 0,
            ended: false,
        }
    }

    /// A stream nobody reads (sent elsewhere than to a pipe): ended.
    pub fn none() -> Lines {
        Lines {
            receiver: channel().1,
            all: Vec::new(),
            taken: 0,
            ended: true,
        }
    }

    /// The next line not taken yet, waiting until `deadline`.
    pub fn next(&mut self, deadline: Instant) -> Next {
        if self.taken < self.all.len() || self.receive(deadline) {
            self.taken += 1;
            Next::Line(self.all[self.taken - 1].clone())
        } else if self.ended {
            Next::Ended
        } else {
            Next::Nothing
        }
    }

    /// Waits until `deadline` for one more line and keeps it: false if
    /// none came in time or the stream has ended.
    fn receive(&mut self, deadline: Instant) -> bool {
        if self.ended {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.receiver.recv_timeout(left) {
            Ok(line) => {
                self.all.push(line.text);
                true
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    /// Takes every line that has come by now, without waiting, and
    /// returns all the lines taken so far.
    pub fn take_ready(&mut self) -> &[String] {
        self.all
            .extend(self.receiver.try_iter().map(|line| line.text));
        self.taken = self.all.len();
        &self.all
    }

    /// Reads the stream to its end, waiting until `deadline` at most.
    pub fn read_to_end(&mut self, deadline: Instant) {
        while self.receive(deadline) {}
    }

    /// Every line that came so far, taken or not.
    pub fn all(&self) -> &[String] {
        &self.all
    }

    /// The lines taken so far.
    pub fn taken(&self) -> &[String] {
        &self.all[..self.taken]
    }

    /// The lines that came and were not taken yet; they count as taken.
    pub fn take_rest(&mut self) -> Vec<String> {
        let rest = self.all[self.taken..].to_vec();
        self.taken = self.all.len();
        rest
    }

    pub fn ended(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_do_not_end_the_reading() {
        let written = b"server waiting\n\xff\xfe\nchar from server = B\nno newline".to_vec();
        let mut lines = Lines::of(std::io::Cursor::new(written));
        lines.read_to_end(Instant::now() + crate::DEADLINE);
        assert!(lines.ended());
        assert_eq!(
            lines.all(),
            [
                "server waiting",
                "\u{fffd}\u{fffd}",
                "char from server = B",
                "no newline"
            ]
        );
    }

    #[test]
    fn a_line_taken_is_not_given_again_and_the_rest_is_kept() {
        let mut lines = Lines::of(std::io::Cursor::new(b"one\ntwo\nthree\n".to_vec()));
        let deadline = Instant::now() + crate::DEADLINE;
        assert!(matches!(lines.next(deadline), Next::Line(line) if line == "one"));
        lines.read_to_end(deadline);
        assert_eq!(lines.taken(), ["one"]);
        assert_eq!(lines.take_rest(), ["two", "three"]);
        assert!(matches!(lines.next(deadline), Next::Ended));
    }
}
