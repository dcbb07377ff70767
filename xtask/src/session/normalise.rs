//! What cannot repeat from run to run, replaced by stable stand-ins: process
//! ids, inode numbers, owners and dates in `ls -l`, strace's details.

use nix::unistd::Pid;

use super::step::Normalise;
use super::{Player, Session};

impl Session {
    pub(super) fn substituted(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (from, to) in &self.stand_ins {
            text = replace_word(&text, from, to);
        }
        text
    }

    pub(super) fn normalised(&mut self, text: &str, normalise: Normalise) -> String {
        let text = self.stable_inodes(text);
        match normalise {
            Normalise::Plain => text,
            Normalise::LsLong => normalise_ls_long(&text),
            Normalise::Ps(widths) => realign(&self.substituted(&text), widths),
            Normalise::Strace => {
                let text = normalise_strace(&text);
                self.stand_in_strace_pids(&text);
                self.substituted(&text)
            }
        }
    }

    /// `strace -f` starts each line with the process's id, and shows
    /// `clone(...) = PID`: each new one gets the next stand-in.
    pub(super) fn stand_in_strace_pids(&mut self, line: &str) {
        let leading = line
            .split(' ')
            .next()
            .and_then(|word| word.parse::<i32>().ok());
        let cloned = line
            .contains("clone")
            .then(|| line.rsplit("= ").next())
            .flatten()
            .and_then(|word| word.parse().ok());
        for pid in leading.into_iter().chain(cloned) {
            if !self
                .stand_ins
                .iter()
                .any(|(live, _)| *live == pid.to_string())
            {
                self.stand_in_pid(Pid::from_raw(pid));
            }
        }
    }

    /// `socket:[4711]`, `pipe:[815]` and the `#815 (deleted)` name of a
    /// file born unnamed (`O_TMPFILE`, as the lock is): an inode number the
    /// kernel chose becomes a stand-in, the same for the same inode all
    /// session long.
    pub(super) fn stable_inodes(&mut self, text: &str) -> String {
        let mut result = String::new();
        let mut rest = text;
        while let Some((at, len, ends)) = [("socket:[", ']'), ("pipe:[", ']'), ("/#", ' ')]
            .iter()
            .filter_map(|&(kind, ends)| rest.find(kind).map(|at| (at, kind.len(), ends)))
            .min()
        {
            let Some(end) = rest[at + len..].find(ends) else {
                break;
            };
            let inode = &rest[at + len..at + len + end];
            let next = 1000 + self.inodes_seen.len() + 1;
            let stand_in = self
                .inodes_seen
                .entry(inode.to_string())
                .or_insert_with(|| next.to_string())
                .clone();
            result.push_str(&rest[..at + len]);
            result.push_str(&stand_in);
            rest = &rest[at + len + end..];
        }
        result.push_str(rest);
        result
    }
}

/// Replaces `from` by `to` where it stands as a whole word (not inside a
/// longer number or name).
pub(super) fn replace_word(text: &str, from: &str, to: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find(from) {
        result.push_str(&rest[..index]);
        let after = rest[index + from.len()..].chars().next();
        if is_word(result.chars().last()) || is_word(after) {
            result.push_str(from);
        } else {
            result.push_str(to);
        }
        rest = &rest[index + from.len()..];
    }
    result.push_str(rest);
    result
}

/// `srwxr-xr-x 1 ann staff 0 Nov 25 13:17 server_socket=` becomes
/// `srwxr-xr-x 1 you you 0 <date> server_socket=`.
pub(super) fn normalise_ls_long(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let looks_like_ls = fields.len() >= 9 && fields[0].len() == 10;
    if !looks_like_ls {
        return line.to_string();
    }
    let name = fields[8..].join(" ");
    format!(
        "{} {} you you {:>2} <date> {name}",
        fields[0], fields[1], fields[4]
    )
}

/// A line of `ps` in columns of `widths` (negative: left-aligned), since a
/// stand-in pid may be wider or narrower than the real one.
pub(super) fn realign(line: &str, widths: &[isize]) -> String {
    let columns: Vec<String> = line
        .split_whitespace()
        .enumerate()
        .map(|(index, field)| match widths.get(index) {
            Some(&width) if width < 0 => format!("{field:<w$}", w = width.unsigned_abs()),
            Some(&width) => format!("{field:>w$}", w = width.unsigned_abs()),
            None => field.to_string(),
        })
        .collect();
    columns.join(" ").trim_end().to_string()
}

/// What strace shows that differs from run to run: who sent a signal
/// (`si_pid=4242, si_uid=1000` becomes `si_pid=<xtask>, si_uid=<you>`),
/// where a new thread of the C library keeps its id (`child_tidptr=0x7f..`
/// becomes `child_tidptr=<address>`), and the bytes of a signal read from
/// a signalfd, which hold the sender's pid (`read(5, "\17\0..."..., 128)`
/// becomes `read(5, <siginfo>, 128)`).
pub(super) fn normalise_strace(line: &str) -> String {
    let mut line = line.to_string();
    for (field, stand_in, ends) in [
        ("si_pid=", "<xtask>", ','),
        ("si_uid=", "<you>", '}'),
        ("child_tidptr=", "<address>", ')'),
    ] {
        if let Some(at) = line.find(field) {
            let start = at + field.len();
            let end = line[start..]
                .find([ends, ','])
                .map_or(line.len(), |end| start + end);
            line.replace_range(start..end, stand_in);
        }
    }
    // io_uring_setup's answer: where the rings' fields lie in the shared
    // memory, and feature bits newer than strace, vary with the kernel.
    if line.starts_with("io_uring_setup(") {
        for field in ["sq_off={", "cq_off={"] {
            if let Some(start) = line.find(field).map(|at| at + field.len())
                && let Some(end) = line[start..].find('}').map(|at| start + at)
            {
                line.replace_range(start..end, "...");
            }
        }
        if let Some(start) = line.find("|0x")
            && let Some(end) = line[start..].find(',').map(|at| start + at)
        {
            line.replace_range(start..end, "");
        }
    }
    if line.ends_with(", 128) = 128")
        && let Some(start) = line.find("read(").map(|at| at + 5)
        && let Some(comma) = line[start..].find(", ").map(|at| start + at + 2)
        && let Some(end) = line.rfind(", 128)")
    {
        line.replace_range(comma..end, "<siginfo>");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_uring_setup_keeps_what_it_was_asked_and_the_features_strace_names() {
        let line = "io_uring_setup(256, {flags=IORING_SETUP_CQSIZE, sq_entries=256, \
                    cq_entries=4096, features=IORING_FEAT_NODROP|IORING_FEAT_FAST_POLL|0x3e000, \
                    sq_off={head=0, tail=4, array=65600}, cq_off={head=8, cqes=64}}) = 3";
        assert_eq!(
            normalise_strace(line),
            "io_uring_setup(256, {flags=IORING_SETUP_CQSIZE, sq_entries=256, cq_entries=4096, \
             features=IORING_FEAT_NODROP|IORING_FEAT_FAST_POLL, sq_off={...}, cq_off={...}}) = 3"
        );
    }

    #[test]
    fn replaces_whole_words_only() {
        assert_eq!(replace_word("[1] 4242", "4242", "23385"), "[1] 23385");
        assert_eq!(
            replace_word("14242 4242x 4242", "4242", "1"),
            "14242 4242x 1"
        );
        assert_eq!(
            replace_word("/tmp/abc/s", "/tmp/abc", "/tmp/demo"),
            "/tmp/demo/s"
        );
    }

    #[test]
    fn ls_lines_lose_owner_and_date() {
        assert_eq!(
            normalise_ls_long("srwxr-xr-x 1 ann staff 0 Nov 25 13:17 server_socket="),
            "srwxr-xr-x 1 you you  0 <date> server_socket="
        );
        let error = "ls: cannot access 'server_socket': No such file or directory";
        assert_eq!(normalise_ls_long(error), error);
    }

    #[test]
    fn strace_lines_lose_who_sent_a_signal() {
        assert_eq!(
            normalise_strace(
                "--- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=812, si_uid=0} ---"
            ),
            "--- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=<xtask>, si_uid=<you>} ---"
        );
        assert_eq!(
            normalise_strace(r#"read(5, "\17\0\0\0\0\0"..., 128) = 128"#),
            "read(5, <siginfo>, 128) = 128"
        );
        assert_eq!(
            normalise_strace("clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x7f2a) = 31193"),
            "clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=<address>) = 31193"
        );
    }
}
