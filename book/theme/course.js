// The course's own script (book.toml: additional-js), run on every page
// after mdbook's: it marks the lines of transcripts, opens every <details>
// for print, and gives the whole-book page (print.html, the PDF) a title
// page and a table of contents. Without it the book still reads:
// transcripts are plain, the PDF starts with the introduction.
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

    // The whole book on one page (print.html, which the PDF is printed
    // from): a title page, then a contents page with a link to each
    // chapter's title, each on a page of its own.
    const main = document.querySelector('#mdbook-content main, main');
    if (main && /(^|\/)print\.html$/.test(window.location.pathname)) {
        const front = document.createElement('section');
        front.className = 'print-title-page';
        const title = document.createElement('h1');
        title.textContent = document.querySelector('meta[property="og:title"]')?.content
            || document.title.replace(/^.* - /, '');
        front.append(title);
        const description = document.querySelector('meta[name="description"]');
        if (description) {
            const line = document.createElement('p');
            line.textContent = description.content;
            front.append(line);
        }
        const contents = document.createElement('nav');
        contents.className = 'print-contents';
        const heading = document.createElement('h2');
        heading.textContent = 'Contents';
        const list = document.createElement('ol');
        main.querySelectorAll('h1').forEach(function (chapter, index) {
            if (!chapter.id) {
                chapter.id = 'chapter-' + index;
            }
            const item = document.createElement('li');
            const link = document.createElement('a');
            link.href = '#' + chapter.id;
            link.textContent = chapter.textContent;
            item.append(link);
            list.append(item);
        });
        contents.append(heading, list);
        main.prepend(front, contents);
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
