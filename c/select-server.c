/* select-server.c: the C twin of crates/04-select-server, after the
 * book's server5.
 *
 * One process, no fork: select sleeps until the listening socket or any
 * client has something for us, and the loop serves whichever is ready.
 * Connections stay open for further exchanges until the client hangs up.
 *
 *   cc -O2 -Wall -Wextra -o select-server select-server.c
 *   ./select-server [SOCKET_PATH [WORK_SECONDS]]   (server_socket, 0)
 *
 * WORK_SECONDS sleeps inside the loop, as the book's server5 does: one
 * slow client then stalls all (the Rust server sets deadlines instead). */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
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

    /* A client that hangs up before its reply must not kill the server:
     * with SIGPIPE ignored, write fails with EPIPE instead (the book's
     * server5 dies of the signal). */
    signal(SIGPIPE, SIG_IGN);

    /* ANCHOR: setup */
    /* Setting up is server1's, repeated on purpose. */
    unlink(path);
    int server_sockfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (server_sockfd == -1)
        fail("socket");
    struct sockaddr_un server_address;
    memset(&server_address, 0, sizeof server_address);
    server_address.sun_family = AF_UNIX;
    strcpy(server_address.sun_path, path);
    if (bind(server_sockfd, (struct sockaddr *)&server_address,
             sizeof server_address) == -1)
        fail("bind");
    if (listen(server_sockfd, 5) == -1)
        fail("listen");
    /* ANCHOR_END: setup */

    /* ANCHOR: fd_set */
    /* The master set: every descriptor we watch, one bit per descriptor
     * number below FD_SETSIZE (1024). First, the listening socket. */
    fd_set readfds;
    FD_ZERO(&readfds);
    FD_SET(server_sockfd, &readfds);
    int maxfd = server_sockfd;
    /* ANCHOR_END: fd_set */

    /* ANCHOR: loop */
    for (;;) {
        /* select overwrites the set it is given with the ready ones:
         * give it a copy, and keep the master. */
        fd_set testfds = readfds;

        printf("server waiting\n");

        /* Sleep until a client connects, sends or hangs up: the kernel
         * watches descriptors 0 to maxfd at once and leaves only the
         * ready ones in testfds. (The book passes FD_SETSIZE, making the
         * kernel look at all 1024; the highest plus one is enough.) */
        if (select(maxfd + 1, &testfds, NULL, NULL, NULL) == -1)
            fail("select");

        /* Find the ready ones, in number order, as the book does. */
        int highest = maxfd;
        for (int fd = 0; fd <= highest; fd++) {
            if (!FD_ISSET(fd, &testfds))
                continue;

            if (fd == server_sockfd) {
                /* A client waits in the queue: accept does not sleep. */
                int client_sockfd = accept(server_sockfd, NULL, NULL);
                if (client_sockfd == -1)
                    fail("accept");
                if (client_sockfd >= FD_SETSIZE) {
                    /* FD_SET would write past the end of the set. */
                    fprintf(stderr, "refusing client on fd %d\n",
                            client_sockfd);
                    close(client_sockfd);
                    continue;
                }
                FD_SET(client_sockfd, &readfds);
                if (client_sockfd > maxfd)
                    maxfd = client_sockfd;
                printf("adding client on fd %d\n", client_sockfd);
                continue;
            }

            /* The book asks ioctl(FIONREAD) how many bytes wait and takes
             * 0 for a hang-up; read says it directly: a byte, or 0 at the
             * end of the stream. select said it is ready: no sleep. */
            unsigned char ch;
            ssize_t got = read(fd, &ch, 1);
            if (got == 1) {
                if (work > 0)
                    sleep(work); /* the book's way: everyone waits */
                printf("serving client on fd %d\n", fd);
                ch++;
                if (write(fd, &ch, 1) == 1)
                    continue;
                perror("write");
            } else if (got == -1) {
                perror("read");
            }

            /* Hung up (or gone): stop watching it, and close it. */
            close(fd);
            FD_CLR(fd, &readfds);
            while (maxfd > server_sockfd && !FD_ISSET(maxfd, &readfds))
                maxfd--;
            printf("removing client on fd %d\n", fd);
        }
    }
    /* ANCHOR_END: loop */
}
