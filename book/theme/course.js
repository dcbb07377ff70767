// The course's own script (book.toml: additional-js), run on every page
// after mdbook's: it marks the lines of transcripts, lets diagrams scale
// down, and opens every <details> for print. Without it the book still
// reads: transcripts are plain, diagrams keep their own size.
(function () {
    'use strict';

    function span(kind, text) {
        const element = document.createElement('span');
        element.className = kind;
        element.textContent = text;
        return element;
    }

    // A transcript (```transcript) line is a command ("$ server1 &", with
    // perhaps "  # a comment" after it), a job line of the shell ("[1] 23385",
    // "[1]+  Done   server1"), or what a program printed; a time mark
    // ("[1s] ") may come first.
    const TIME = /^\[\d+(\.\d+)?m?s\] /;
    const JOB = /^\[\d+\][+-]?\s+(\d+$|(Done|Exit \d+|Killed|Terminated|Stopped|Running)\b)/;
    const COMMENT = /\s+#\s.*$/;
    for (const code of document.querySelectorAll('code.language-transcript')) {
        const lines = code.textContent.replace(/\n$/, '').split('\n');
        code.textContent = '';
        lines.forEach(function (line, index) {
            if (index > 0) {
                code.append('\n');
            }
            const time = TIME.exec(line);
            if (time) {
                code.append(span('time', time[0]));
                line = line.slice(time[0].length);
            }
            if (line.startsWith('$ ') || line === '$') {
                const command = line.slice(2);
                const comment = COMMENT.exec(command);
                code.append(span('prompt', line.slice(0, 2)));
                code.append(span('command', comment ? command.slice(0, comment.index) : command));
                if (comment) {
                    code.append(span('comment', comment[0]));
                }
            } else if (line.startsWith('# ')) {
                code.append(span('comment', line));
            } else if (JOB.test(line)) {
                code.append(span('job', line));
            } else {
                code.append(line);
            }
        });
    }

    // Print: every <details> (hints, instructor notes) open on paper, and
    // closed again afterwards; print.html opens them all at once.
    let closed = [];
    window.addEventListener('beforeprint', function () {
        closed = Array.from(document.querySelectorAll('details:not([open])'));
        closed.forEach(function (details) { details.open = true; });
    });
    window.addEventListener('afterprint', function () {
        closed.forEach(function (details) { details.open = false; });
        closed = [];
    });
    if (/(^|\/)print\.html$/.test(window.location.pathname)) {
        document.querySelectorAll('details').forEach(function (details) {
            details.open = true;
        });
    }
})();
