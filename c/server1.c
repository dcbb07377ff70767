/* server1.c: the C twin of crates/02-server1, after the book's server1.
 *
 * An iterative server on a local socket: it answers each client's byte
 * with the next one, one client at a time, while the others wait in the
 * listen queue.
 *
 *   cc -O2 -Wall -Wextra -o server1 server1.c
 *   ./server1 [SOCKET_PATH [WORK_SECONDS]]       (server_socket, 0)
 *
 * `cargo xtask bench` runs it beside the Rust server1, and the book shows
 * it beside the Rust. Like the book's program, it unlinks the path
 * blindly, dies on Ctrl-C leaving its socket file behind, and dies of
 * SIGPIPE if a client hangs up before its reply: the Rust server does
 * none of that. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A system call failed: say which, and why (errno), and give up. */
static void fail(const char *call)
{
    perror(call);
    exit(1);
}

/* PROGRAM [SOCKET_PATH [WORK_SECONDS]]: exit 2 for anything else. */
static void parse_args(int argc, char *argv[], const char **path,
                       unsigned *work)
{
    char *end = NULL;
    unsigned long seconds = 0;

    if (argc > 2)
        seconds = strtoul(argv[2], &end, 10);
    if (argc > 3 || (argc > 2 && (*argv[2] == '\0' || *end != '\0' ||
                                  seconds > 86400))) {
        fprintf(stderr, "usage: %s [SOCKET_PATH [WORK_SECONDS]]\n", argv[0]);
        exit(2);
    }
    *path = argc > 1 ? argv[1] : "server_socket";
    *work = (unsigned)seconds;
    if (strlen(*path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "%s: socket path too long: %s\n", argv[0], *path);
        exit(1);
    }
}

int main(int argc, char *argv[])
{
    const char *path;
    unsigned work;

    parse_args(argc, argv, &path, &work);

    /* ANCHOR: setup */
    /* Remove any old socket file, blindly, as the book does. */
    unlink(path);

    /* Ask the kernel for a socket: an unnamed endpoint, a descriptor. */
    int server_sockfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (server_sockfd == -1)
        fail("socket");

    /* Name the socket: the kernel creates a socket file at the path. */
    struct sockaddr_un server_address;
    memset(&server_address, 0, sizeof server_address);
    server_address.sun_family = AF_UNIX;
    strcpy(server_address.sun_path, path);
    if (bind(server_sockfd, (struct sockaddr *)&server_address,
             sizeof server_address) == -1)
        fail("bind");

    /* Start accepting connections: the kernel queues up to 5 clients that
     * have connected but that we have not accepted yet. */
    if (listen(server_sockfd, 5) == -1)
        fail("listen");
    /* ANCHOR_END: setup */

    /* ANCHOR: loop */
    for (;;) {
        unsigned char ch;

        /* stdout is a terminal: one line at a time; a file or a pipe:
         * saved up in stdio's buffer and written 4096 bytes at once. */
        printf("server waiting\n");

        /* Sleep until a client connects; the kernel then gives us a new
         * socket for this one conversation. We need no client address. */
        int client_sockfd = accept(server_sockfd, NULL, NULL);
        if (client_sockfd == -1)
            fail("accept");

        /* Sleep until the client's byte arrives (0: it hung up first). */
        ssize_t got = read(client_sockfd, &ch, 1);
        if (got == 1) {
            if (work > 0)
                sleep(work); /* pretend work, the others wait meanwhile */
            ch++;            /* unsigned: 255 wraps to 0 */
            if (write(client_sockfd, &ch, 1) == -1)
                perror("write");
        } else if (got == -1) {
            perror("read");
        }

        /* Hang up: the client's next read sees the end of the stream. */
        close(client_sockfd);
    }
    /* ANCHOR_END: loop */
}
